import { isDeepStrictEqual } from "node:util";
import * as jsYaml from "js-yaml";
import { isMap, isPair, isScalar, isSeq, type Node, type Pair, parse as parseYaml, Scalar, type YAMLMap } from "yaml";

/**
 * Byte-level edits of a YAML text through the `yaml` package's source ranges: a value that changes
 * is rewritten in place, in the style it was written in (quoting, flow or block, indentation), and
 * every other byte — comments, blank lines, key order, other values — stays as it was. A full
 * re-stringify would normalise quoting, indentation and comments all over a hand-written stack file.
 */

/** Replace `text.slice(start, end)` with `text`; an insertion has `start === end`. */
export interface TextEdit {
    readonly start: number;
    readonly end: number;
    readonly text: string;
}

/** Data a stack file holds: scalars, lists and mappings. */
export type YamlValue = string | number | boolean | null | readonly YamlValue[] | { readonly [key: string]: YamlValue };

/** Applies non-overlapping edits; insertions at the same offset keep the order they are given in. */
export function applyEdits(text: string, edits: readonly TextEdit[]): string {
    const ordered = edits.map((edit, order) => ({ edit, order })).sort((a, b) => a.edit.start - b.edit.start || a.edit.end - b.edit.end || a.order - b.order);
    let result = "";
    let position = 0;
    for (const { edit } of ordered) {
        if (edit.start < position || edit.end < edit.start) throw new Error(`overlapping edits at offset ${edit.start}`);
        result += text.slice(position, edit.start) + edit.text;
        position = edit.end;
    }
    return result + text.slice(position);
}

/** Where a node's own text ends: without the newline, comments and blank lines a block collection's range takes in. */
export function contentEnd(node: unknown): number {
    if ((isMap(node) || isSeq(node)) && !node.flow && node.items.length > 0) {
        const last = node.items[node.items.length - 1];
        if (isPair(last)) return last.value === null ? rangeOf(last.key)[1] : contentEnd(last.value);
        return contentEnd(last);
    }
    return rangeOf(node)[1];
}

/** The text that belongs to a pair after its key: the `:`, what separates it from the value, and the value. */
export function pairTail(pair: Pair): { readonly start: number; readonly end: number } {
    return { start: rangeOf(pair.key)[1], end: pair.value === null ? rangeOf(pair.key)[1] : contentEnd(pair.value) };
}

export function keyOf(pair: Pair): string {
    return isScalar(pair.key) ? String(pair.key.value) : String(pair.key);
}

export function pairNamed(map: YAMLMap, key: string): Pair | undefined {
    return map.items.find((pair) => keyOf(pair) === key);
}

/** Column of an offset: the indentation of a block collection that starts there. */
export function columnOf(text: string, offset: number): number {
    return offset - (text.lastIndexOf("\n", offset - 1) + 1);
}

/**
 * The edits that turn `pair`'s value (in block map `map`, keys at column `indent`) into `desired`,
 * touching as few bytes as it can: unchanged values are left alone, scalars keep their quoting,
 * flow collections stay flow, block mappings are edited key by key.
 */
export function editPairValue(text: string, pair: Pair, desired: YamlValue, indent: number, step: number): TextEdit[] {
    const inPlace = pair.value === null ? undefined : editValue(text, pair.value as Node, desired, step);
    if (inPlace !== undefined) return inPlace;
    const { start, end } = pairTail(pair);
    return [{ start, end, text: renderTail(desired, indent, step) }];
}

/** Edits that set `key` in block map `map` to `desired`, adding the key (after `after`, else last) or, with `undefined`, removing it. */
export function setMapKey(text: string, map: YAMLMap, key: string, desired: YamlValue | undefined, step: number, after?: readonly string[]): TextEdit[] {
    const indent = columnOf(text, rangeOf(map)[0]);
    const index = map.items.findIndex((pair) => keyOf(pair) === key);
    if (index >= 0) {
        const pair = map.items[index] as Pair;
        return desired === undefined ? [removePair(text, map, index)] : editPairValue(text, pair, desired, indent, step);
    }
    if (desired === undefined) return [];
    return [insertPair(text, map, `${renderKey(key)}${renderTail(desired, indent, step)}`, after)];
}

/**
 * Inserts a pair's text (`key: value…`, already indented for `map`) after the last existing key
 * among `after`, or after the last pair.
 */
export function insertPair(text: string, map: YAMLMap, pairText: string, after?: readonly string[]): TextEdit {
    if (map.flow) throw new Error("cannot insert into a flow mapping");
    const indent = columnOf(text, rangeOf(map)[0]);
    const anchors = after === undefined ? map.items : map.items.filter((pair) => after.includes(keyOf(pair)));
    const anchor = anchors[anchors.length - 1];
    if (anchor === undefined) {
        const first = map.items[0];
        if (first === undefined) throw new Error("cannot insert into an empty mapping");
        const start = rangeOf(first.key)[0];
        return { start, end: start, text: `${pairText}\n${" ".repeat(indent)}` };
    }
    const end = endOfLine(text, pairTail(anchor).end);
    return { start: end, end, text: `\n${" ".repeat(indent)}${pairText}` };
}

/**
 * Removes the pair at `index` of a block map: from the end of the previous pair (so its line goes
 * with it), or for the first pair up to the next key. A comment on the pair's own line goes too.
 */
export function removePair(text: string, map: YAMLMap, index: number): TextEdit {
    const pair = map.items[index] as Pair;
    const previous = map.items[index - 1];
    const next = map.items[index + 1];
    if (previous === undefined && next === undefined) {
        return { start: rangeOf(pair.key)[0], end: pairTail(pair).end, text: "{}" };
    }
    if (previous === undefined) return { start: rangeOf(pair.key)[0], end: rangeOf((next as Pair).key)[0], text: "" };
    return { start: endOfLine(text, pairTail(previous).end), end: endOfLine(text, pairTail(pair).end), text: "" };
}

/** Past a comment that ends the line of `offset` (a comment there belongs to what precedes it). */
function endOfLine(text: string, offset: number): number {
    const rest = /^[ \t]*#[^\n]*/.exec(text.slice(offset));
    return rest === null ? offset : offset + rest[0].length;
}

function editValue(text: string, node: Node, desired: YamlValue, step: number): TextEdit[] | undefined {
    const [start, end] = rangeOf(node);
    if (isScalar(node)) {
        if (!isScalarValue(desired) || node.type === Scalar.BLOCK_LITERAL || node.type === Scalar.BLOCK_FOLDED) return undefined;
        if (node.value === desired) return [];
        return [{ start, end, text: renderScalar(desired, node.type) }];
    }
    if (isMap(node) && isMapping(desired)) {
        if (isDeepStrictEqual(node.toJSON(), desired)) return [];
        if (node.flow) return [{ start, end, text: renderFlow(desired) }];
        const keys = Object.keys(desired);
        if (!node.items.some((pair) => keys.includes(keyOf(pair)))) return undefined;
        const blockIndent = columnOf(text, start);
        const edits: TextEdit[] = [];
        node.items.forEach((pair, index) => {
            const key = keyOf(pair);
            const value = desired[key];
            if (value === undefined) edits.push(removePair(text, node, index));
            else edits.push(...editPairValue(text, pair, value, blockIndent, step));
        });
        keys.forEach((key, index) => {
            if (node.items.some((pair) => keyOf(pair) === key)) return;
            const before = keys.slice(0, index);
            const pairText = `${renderKey(key)}${renderTail(desired[key] as YamlValue, blockIndent, step)}`;
            edits.push(insertPair(text, node, pairText, node.items.some((pair) => before.includes(keyOf(pair))) ? before : []));
        });
        return edits;
    }
    if (isSeq(node) && Array.isArray(desired)) {
        const items = desired as readonly YamlValue[];
        if (isDeepStrictEqual(node.toJSON(), items)) return [];
        if (node.flow) return [{ start, end, text: renderFlow(items) }];
        if (items.length === node.items.length && items.length > 0) {
            const edits = items.map((item, i) => editValue(text, node.items[i] as Node, item, step));
            if (edits.every((e): e is TextEdit[] => e !== undefined)) return edits.flat();
        }
        if (items.length === 0) return undefined;
        const column = columnOf(text, start);
        return [{ start, end: contentEnd(node), text: items.map((item) => `- ${renderInline(item)}`).join(`\n${" ".repeat(column)}`) }];
    }
    return undefined;
}

// ---- rendering ------------------------------------------------------------------------------------------

/** What follows a key: `: scalar`, `: [flow]`, or `:` and a block mapping one step deeper. */
function renderTail(value: YamlValue, indent: number, step: number): string {
    if (isMapping(value) && Object.keys(value).length > 0) {
        const inner = " ".repeat(indent + step);
        return `:${Object.entries(value)
            .map(([key, item]) => `\n${inner}${renderKey(key)}${renderTail(item, indent + step, step)}`)
            .join("")}`;
    }
    return `: ${renderInline(value)}`;
}

function renderInline(value: YamlValue): string {
    return isScalarValue(value) ? renderScalar(value) : renderFlow(value);
}

function renderFlow(value: YamlValue): string {
    if (Array.isArray(value)) return `[${(value as readonly YamlValue[]).map((item) => renderFlowItem(item)).join(", ")}]`;
    if (isMapping(value))
        return `{${Object.entries(value)
            .map(([key, item]) => `${renderKey(key, true)}: ${renderFlowItem(item)}`)
            .join(", ")}}`;
    return renderScalar(value as string | number | boolean | null);
}

function renderFlowItem(value: YamlValue): string {
    return isScalarValue(value) ? renderScalar(value, undefined, true) : renderFlow(value);
}

function renderKey(key: string, inFlow = false): string {
    return renderScalar(key, undefined, inFlow);
}

/**
 * A scalar in the requested quoting when it can hold the value; plain only when `yaml` (which
 * `stacks/` and this editor read stack files with) and js-yaml (a YAML 1.2 reader as tools outside
 * this project use) both read it back as the same value.
 */
export function renderScalar(value: string | number | boolean | null, style?: Scalar.Type, inFlow = false): string {
    if (typeof value === "number") {
        if (!Number.isFinite(value)) throw new Error(`cannot write the non-finite number ${value}`);
        return String(value);
    }
    if (typeof value !== "string") return String(value);
    if (style === Scalar.QUOTE_SINGLE && !/[\n\r]/.test(value)) return `'${value.replace(/'/g, "''")}'`;
    if (style !== Scalar.QUOTE_DOUBLE && style !== Scalar.QUOTE_SINGLE && isPlainSafe(value, inFlow)) return value;
    return JSON.stringify(value);
}

function isPlainSafe(value: string, inFlow: boolean): boolean {
    if (!/^[A-Za-z0-9_./@+-][A-Za-z0-9_./@+ -]*$/.test(value) || value.endsWith(" ") || (inFlow && /[,[\]{}]/.test(value))) return false;
    // YAML 1.1 readers (still common) take these for booleans and null.
    if (/^(y|n|yes|no|on|off|true|false|null)$/i.test(value)) return false;
    // ... and these for timestamps.
    if (/^\d{4}-\d\d?-\d\d?([Tt ]|$)/.test(value)) return false;
    const wrapped = inFlow ? `[${value}]` : `k: ${value}`;
    const read = (data: unknown) => (inFlow ? (data as unknown[])[0] : (data as Record<string, unknown>)["k"]);
    try {
        return read(parseYaml(wrapped)) === value && read(jsYaml.load(wrapped)) === value;
    } catch {
        return false;
    }
}

// ---- small helpers --------------------------------------------------------------------------------------

export function rangeOf(node: unknown): readonly [number, number, number] {
    const range = (node as { range?: [number, number, number] | null }).range;
    if (range === undefined || range === null) throw new Error("a YAML node without a source range");
    return range;
}

function isScalarValue(value: YamlValue): value is string | number | boolean | null {
    return value === null || typeof value !== "object";
}

function isMapping(value: YamlValue): value is { readonly [key: string]: YamlValue } {
    return typeof value === "object" && value !== null && !Array.isArray(value);
}
