import * as path from "node:path";
import { isDeepStrictEqual } from "node:util";
import { type Document, isMap, isSeq, type Pair, type YAMLMap } from "yaml";
import { PROJECT } from "../../stacks/config";
import { loadStackYaml, StackFileError, stackValuesOf } from "../../stacks/stackFile";
import { applyEdits, columnOf, insertPair, keyOf, pairNamed, pairTail, rangeOf, removePair, setMapKey, type TextEdit, type YamlValue } from "./yamlEdit";

/**
 * A `Pulumi.<stack>.yaml` as text and as a YAML document with source ranges: what it declares per
 * model, and the two edits the GitOps commands make — a promotion (a model's `version` and
 * `promotion`) and a rollback (the same two keys restored from an older revision, byte for byte).
 * Every edit is checked by reading the result back: the model's two keys hold what was intended and
 * nothing else in the file changed.
 */

/** A stack file's text, with the name it has in messages. */
export interface StackSource {
    readonly stack: string;
    /** Path relative to the project directory, e.g. `Pulumi.production.yaml`. */
    readonly file: string;
    readonly text: string;
}

/** What a stack declares for one model, as plain data. */
export interface ModelDeclaration {
    readonly model: string;
    readonly registeredModel: string | undefined;
    readonly version: string | undefined;
    /** The model's `promotion` mapping as written, or `undefined` when it has none. */
    readonly promotion: YamlValue | undefined;
}

/** The two keys of a model a promotion or a rollback changes; nothing else of the file is touched. */
export const DECLARATION_KEYS = ["version", "promotion"] as const;

export class StackFileProblem extends Error {}

export class StackText {
    private constructor(
        readonly source: StackSource,
        private readonly document: Document,
    ) {}

    /**
     * Throws `StackFileProblem` for a file that is not valid YAML (with the line), exceeds the bounds of
     * `STACK_FILE_LIMITS`, or is not read as a stack file by `stacks/`: the one bounded reader.
     */
    static parse(source: StackSource): StackText {
        try {
            const { document, data } = loadStackYaml(source.text, source.file);
            stackValuesOf(data, source.file);
            return new StackText(source, document);
        } catch (err) {
            if (err instanceof StackFileError) throw new StackFileProblem(err.message);
            throw err;
        }
    }

    get text(): string {
        return this.source.text;
    }

    /** `mlops-platform:environment`, when the file sets it. */
    get environment(): string | undefined {
        const value = this.projectValue("environment");
        return typeof value === "string" ? value : undefined;
    }

    /** The names under `mlops-platform:clusters`, in order; empty for a stack that declares none. */
    get clusterNames(): string[] {
        const clusters = this.projectValue("clusters");
        const data: unknown = isSeq(clusters) ? clusters.toJSON() : undefined;
        if (!Array.isArray(data)) return [];
        return data.flatMap((c: unknown) =>
            typeof c === "object" && c !== null && typeof (c as { name?: unknown }).name === "string" ? [(c as { name: string }).name] : [],
        );
    }

    get modelNames(): string[] {
        const models = this.modelsMap();
        return models === undefined ? [] : models.items.map(keyOf);
    }

    model(name: string): ModelDeclaration | undefined {
        const node = this.modelMap(name);
        if (node === undefined) return undefined;
        const data = node.toJSON() as Record<string, YamlValue | undefined>;
        const text = (value: YamlValue | undefined) => (typeof value === "string" || typeof value === "number" ? String(value) : undefined);
        return { model: name, registeredModel: text(data["registeredModel"]), version: text(data["version"]), promotion: data["promotion"] };
    }

    /** The text of a model's `version` and `promotion` changed to these values (a promotion). */
    withDeclaration(name: string, declaration: { readonly version: string; readonly promotion: YamlValue }): string {
        const node = this.requireModel(name);
        const step = this.indentStep(node);
        const edits: TextEdit[] = [
            ...setMapKey(this.text, node, "version", declaration.version, step),
            ...setMapKey(this.text, node, "promotion", declaration.promotion, step),
        ];
        const text = applyEdits(this.text, edits);
        this.checkEdit(text, name, declaration);
        return text;
    }

    /** The text of a model's `version` and `promotion` put back exactly as `older` wrote them (a rollback). */
    withDeclarationOf(name: string, older: StackText): string {
        const node = this.requireModel(name);
        const olderNode = older.requireModel(name);
        const edits: TextEdit[] = [];
        for (const key of DECLARATION_KEYS) {
            const current = pairNamed(node, key);
            const restored = pairNamed(olderNode, key);
            if (current !== undefined && restored !== undefined) {
                const tail = pairTail(current);
                const oldTail = pairTail(restored);
                edits.push({ start: tail.start, end: tail.end, text: older.text.slice(oldTail.start, oldTail.end) });
            } else if (restored !== undefined) {
                const olderKeys = olderNode.items.map(keyOf);
                const pairText = older.text.slice(rangeOf(restored.key)[0], pairTail(restored).end);
                edits.push(insertPair(this.text, node, pairText, olderKeys.slice(0, olderKeys.indexOf(key))));
            } else if (current !== undefined) {
                edits.push(removePair(this.text, node, node.items.indexOf(current as Pair<unknown, unknown>)));
            }
        }
        const text = applyEdits(this.text, edits);
        const declared = olderNode.toJSON() as Record<string, YamlValue | undefined>;
        this.checkEdit(text, name, { version: declared["version"], promotion: declared["promotion"] });
        return text;
    }

    private checkEdit(text: string, name: string, expected: { readonly version: YamlValue | undefined; readonly promotion: YamlValue | undefined }): void {
        const problem = (what: string) => new StackFileProblem(`${this.source.file}: editing model "${name}" in place would ${what}; edit the file by hand`);
        let edited: StackText;
        try {
            edited = StackText.parse({ ...this.source, text });
        } catch (err) {
            throw problem(`produce an unreadable file (${(err as Error).message})`);
        }
        const after = edited.document.toJS() as unknown;
        const model = edited.modelMap(name)?.toJSON() as Record<string, unknown> | undefined;
        if (!isDeepStrictEqual(model?.["version"], expected.version) || !isDeepStrictEqual(model?.["promotion"], expected.promotion)) {
            throw problem("not declare the intended version and evidence");
        }
        if (!isDeepStrictEqual(withoutDeclaration(after, name), withoutDeclaration(this.document.toJS() as unknown, name))) {
            throw problem("change more than its version and evidence");
        }
    }

    private requireModel(name: string): YAMLMap {
        const node = this.modelMap(name);
        if (node === undefined) throw new StackFileProblem(`${this.source.file} declares no model "${name}"`);
        if (node.flow)
            throw new StackFileProblem(`${this.source.file}: model "${name}" is written as a flow mapping; write it as a block mapping to promote it`);
        return node;
    }

    /** The indentation a nested block mapping gets: the file's own, as the models are indented under `models`. */
    private indentStep(model: YAMLMap): number {
        const models = this.modelsMap();
        const step = models === undefined ? 0 : columnOf(this.text, rangeOf(model)[0]) - columnOf(this.text, rangeOf(models)[0]);
        return step > 0 ? step : 2;
    }

    private projectValue(key: string): unknown {
        const config = this.document.get("config");
        if (!isMap(config)) return undefined;
        return config.get(`${PROJECT}:${key}`) ?? config.get(key);
    }

    private modelsMap(): YAMLMap | undefined {
        const models = this.projectValue("models");
        return isMap(models) ? models : undefined;
    }

    private modelMap(name: string): YAMLMap | undefined {
        const model = this.modelsMap()?.get(name);
        return isMap(model) ? model : undefined;
    }
}

/** A whole file's data with one model's version and promotion left out, to compare everything else. */
function withoutDeclaration(data: unknown, name: string): unknown {
    const copy = structuredClone(data) as Record<string, Record<string, Record<string, Record<string, unknown>>>> | undefined;
    const config = copy?.["config"];
    const models = config?.[`${PROJECT}:models`] ?? config?.["models"];
    const model = models?.[name];
    if (model !== undefined) for (const key of DECLARATION_KEYS) delete model[key];
    return copy;
}

/** `Pulumi.<stack>.yaml` for a stack, relative to the project directory. */
export function stackFileName(stack: string): string {
    return `Pulumi.${stack}.yaml`;
}

export function stackOfFile(file: string): string | undefined {
    return /^Pulumi\.([^.]+)\.yaml$/.exec(path.basename(file))?.[1];
}
