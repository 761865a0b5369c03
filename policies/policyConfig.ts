import type { PolicyConfigSchema } from "@pulumi/policy";
import type { PolicyConfigJSONSchema } from "@pulumi/policy/schema";

/**
 * A policy's `configSchema`, tied to its typed `XxxConfig` interface: one property per key of the
 * interface, each `default` of the key's type. (A test checks that the defaults are the ones the
 * interface documents with `@default`.)
 */
export interface TypedConfigSchema<T extends object> extends PolicyConfigSchema {
    readonly properties: { readonly [K in keyof T]-?: PolicyConfigJSONSchema & { readonly default?: T[K] } };
}

interface ConfigSource {
    getConfig<U extends object>(): U;
}

/**
 * The policy's configuration. The Pulumi CLI fills in the schema's defaults before it configures
 * the pack; they are applied here once more (shallowly, the way the CLI does) so that a pack run
 * without the CLI's help reads the same values instead of crashing on a missing key.
 */
export function configOf<T extends object>(args: ConfigSource, schema: TypedConfigSchema<T>): T {
    const defaults: Record<string, unknown> = {};
    for (const [key, property] of Object.entries(schema.properties) as [string, PolicyConfigJSONSchema][]) {
        if (property.default !== undefined) defaults[key] = property.default;
    }
    return { ...defaults, ...args.getConfig<Partial<T>>() } as T;
}
