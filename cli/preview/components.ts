import type { RecordedResource } from "../../offline/runtime";

/**
 * Resources by component, from the parent chain the engine records: every registration belongs
 * to the top-level component it descends from, or to the stack when the program created it
 * directly. Component resources (not custom) form the tree the Markdown diagram draws.
 */

const STACK_TYPE = "pulumi:pulumi:Stack";

export interface ResourceGroup {
    /** The top-level component, or the stack resource itself. */
    readonly component: { readonly name: string; readonly type: string; readonly urn: string };
    /** Registrations in the group, the component's own included. */
    readonly resources: number;
    /** Per resource type, sorted by type. */
    readonly byType: readonly { readonly type: string; readonly count: number }[];
}

export interface ComponentNode {
    readonly name: string;
    readonly type: string;
    readonly urn: string;
    /** Registrations in this component's subtree, its own included. */
    readonly resources: number;
    /** Child components, in registration order. */
    readonly children: readonly ComponentNode[];
}

/** The root stack resource; a run without one (not one the SDK makes) gets a stand-in. */
function rootOf(resources: readonly RecordedResource[]): Pick<RecordedResource, "urn" | "name" | "type"> {
    return resources.find((r) => r.type === STACK_TYPE && r.parent === undefined) ?? { urn: "", name: "(stack)", type: STACK_TYPE };
}

/** Groups in registration order of their component, the stack's first; counts add up to `resources.length`. */
export function componentGroups(resources: readonly RecordedResource[]): ResourceGroup[] {
    const root = rootOf(resources);
    const byUrn = new Map(resources.map((r) => [r.urn, r]));
    const topLevel = (resource: RecordedResource): RecordedResource | undefined => {
        let current = resource;
        // A chain that leaves the record (a parent never registered) ends at the last known ancestor.
        for (let parent = byUrn.get(current.parent ?? ""); parent !== undefined && parent.urn !== root.urn; parent = byUrn.get(current.parent ?? "")) {
            current = parent;
        }
        return current.urn === root.urn || (current.custom && current.parent === root.urn) ? undefined : current;
    };
    const groups = new Map<string, { component: RecordedResource | undefined; counts: Map<string, number>; resources: number }>();
    groups.set(root.urn, { component: undefined, counts: new Map(), resources: 0 });
    for (const resource of resources) {
        const component = topLevel(resource);
        const key = component?.urn ?? root.urn;
        let group = groups.get(key);
        if (group === undefined) {
            group = { component, counts: new Map(), resources: 0 };
            groups.set(key, group);
        }
        group.resources++;
        group.counts.set(resource.type, (group.counts.get(resource.type) ?? 0) + 1);
    }
    return [...groups.values()]
        .filter((g) => g.resources > 0)
        .map((g) => ({
            component:
                g.component === undefined
                    ? { name: root.name, type: root.type, urn: root.urn }
                    : { name: g.component.name, type: g.component.type, urn: g.component.urn },
            resources: g.resources,
            byType: [...g.counts].map(([type, count]) => ({ type, count })).sort((a, b) => (a.type < b.type ? -1 : a.type > b.type ? 1 : 0)),
        }));
}

/** The stack and its component resources, each with the size of its subtree. */
export function componentTree(resources: readonly RecordedResource[]): ComponentNode {
    const root = rootOf(resources);
    const children = new Map<string, RecordedResource[]>();
    for (const resource of resources) {
        if (resource.urn === root.urn) continue;
        const parent = resource.parent ?? root.urn;
        let list = children.get(parent);
        if (list === undefined) children.set(parent, (list = []));
        list.push(resource);
    }
    // Custom resources may parent others too (rarely): sizes count whole subtrees.
    const size = (urn: string): number => (children.get(urn) ?? []).reduce((sum, kid) => sum + 1 + size(kid.urn), 0);
    const build = (node: Pick<RecordedResource, "urn" | "name" | "type">, self: number): ComponentNode => ({
        name: node.name,
        type: node.type,
        urn: node.urn,
        resources: self + size(node.urn),
        children: (children.get(node.urn) ?? []).filter((kid) => !kid.custom).map((kid) => build(kid, 1)),
    });
    return build(root, root.urn === "" ? 0 : 1);
}

/** A run of groups of one component type, as one row: `ModelServing × 300`. */
export interface FoldedGroup extends ResourceGroup {
    /** How many groups were folded into this one (1: not folded). */
    readonly folded: number;
    /** The first and last component names of a folded run. */
    readonly range?: readonly [string, string];
}

/** Folds each component type that has more than `limit` groups into one row with summed counts, where its first group was. */
export function foldGroups(groups: readonly ResourceGroup[], limit: number): FoldedGroup[] {
    const byType = new Map<string, ResourceGroup[]>();
    for (const group of groups) byType.set(group.component.type, [...(byType.get(group.component.type) ?? []), group]);
    const out: FoldedGroup[] = [];
    for (const group of groups) {
        const same = byType.get(group.component.type) ?? [group];
        if (same.length <= limit) {
            out.push({ ...group, folded: 1 });
            continue;
        }
        if (same[0] !== group) continue;
        const counts = new Map<string, number>();
        for (const g of same) for (const { type, count } of g.byType) counts.set(type, (counts.get(type) ?? 0) + count);
        out.push({
            component: group.component,
            resources: same.reduce((sum, g) => sum + g.resources, 0),
            byType: [...counts].map(([type, count]) => ({ type, count })).sort((a, b) => (a.type < b.type ? -1 : a.type > b.type ? 1 : 0)),
            folded: same.length,
            range: [same[0]?.component.name ?? "", same[same.length - 1]?.component.name ?? ""],
        });
    }
    return out;
}
