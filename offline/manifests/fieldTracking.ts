import type { FieldPath } from "./collect";

/**
 * Finds unknown fields with validators that do not report them.
 *
 * The `kubernetes-models` packages ship their schemas only as ajv-compiled validator code (no
 * JSON schema files) and compile them without `additionalProperties: false`, so a misspelt field
 * passes. Their generated code does read every property the schema declares
 * (`void 0 !== data.minReadySeconds && …`) and walks maps key by key, so running a validator over
 * a proxy that records which keys it read tells the declared fields from the undeclared ones: a
 * key the validator never asked for is not in the schema. An object the validator inspected by no
 * name at all is free-form there (`RawExtension`, preserved unknown fields) and is left alone.
 */

/**
 * Property names some types declare (in their `.d.ts`) whose schema the packages' generator
 * dropped, so no validator reads them: `description` (AppProject, ProjectRole, SyncWindow,
 * PriorityClass, CRD columns) and the `x-kubernetes-*` fields of JSONSchemaProps. Never reported
 * as unknown. The test suite re-derives this list from the installed packages.
 */
export const VALIDATOR_BLIND_SPOTS: ReadonlySet<string> = new Set([
    "description",
    "x-kubernetes-embedded-resource",
    "x-kubernetes-int-or-string",
    "x-kubernetes-list-map-keys",
    "x-kubernetes-list-type",
    "x-kubernetes-map-type",
    "x-kubernetes-preserve-unknown-fields",
    "x-kubernetes-validations",
]);

export interface UnknownField {
    readonly path: FieldPath;
}

interface Visit {
    readonly path: FieldPath;
    readonly target: object;
    readonly read: Set<string>;
}

export interface FieldTracker {
    /** The value to hand to the validator instead of the object itself. */
    readonly observed: unknown;
    /** Call after the validator ran. */
    unknownFields(): UnknownField[];
}

export function trackFieldReads(value: unknown): FieldTracker {
    const visits: Visit[] = [];
    const observe = (target: unknown, path: FieldPath): unknown => {
        if (typeof target !== "object" || target === null) return target;
        const visit: Visit = { path, target, read: new Set() };
        visits.push(visit);
        const children = new Map<string, unknown>();
        return new Proxy(target, {
            get(t, key, receiver) {
                const child: unknown = Reflect.get(t, key, receiver);
                if (typeof key !== "string") return child;
                visit.read.add(key);
                if (typeof child !== "object" || child === null || !Object.prototype.hasOwnProperty.call(t, key)) return child;
                if (!children.has(key)) children.set(key, observe(child, [...path, Array.isArray(t) ? Number(key) : key]));
                return children.get(key);
            },
            has(t, key) {
                if (typeof key === "string") visit.read.add(key);
                return Reflect.has(t, key);
            },
        });
    };
    const observed = observe(value, []);
    return {
        observed,
        unknownFields() {
            const unknown: UnknownField[] = [];
            for (const visit of visits) {
                if (Array.isArray(visit.target) || visit.read.size === 0) continue;
                for (const key of Object.keys(visit.target)) {
                    if (!visit.read.has(key) && !VALIDATOR_BLIND_SPOTS.has(key)) unknown.push({ path: [...visit.path, key] });
                }
            }
            return unknown;
        },
    };
}
