import type { PolicyResource, ResourceValidationArgs, ResourceValidationPolicy, StackValidationArgs, StackValidationPolicy } from "@pulumi/policy";
import { unknownCheckingProxy as sdkUnknownCheckingProxy } from "@pulumi/policy";
import { unknownValue } from "@pulumi/pulumi/runtime/rpc";
import { Struct } from "google-protobuf/google/protobuf/struct_pb";

/**
 * The arguments the analyzer passes a policy (awsguard's `createResourceValidationArgs` style), built
 * the way @pulumi/policy's server builds them: properties go through a protobuf Struct and come out
 * wrapped in the SDK's unknown-checking proxy, and `getConfig` returns the config the test passes —
 * the full config the CLI would hand over (schema defaults and overrides), written out by each test.
 */

/** The engine's marker for a value that is unknown during preview (as it arrives over gRPC). */
export const UNKNOWN: string = unknownValue;

const unknownCheckingProxy = sdkUnknownCheckingProxy as (props: Record<string, unknown>) => Record<string, any>;

/** Properties as a policy receives them. */
export function analyzerProps(props: object): Record<string, any> {
    const struct = Struct.fromJavaScript(JSON.parse(JSON.stringify(props)) as Record<string, never>);
    return unknownCheckingProxy(struct.toJavaScript());
}

export const urnOf = (type: string, name: string) => `urn:pulumi:test::mlops-platform::${type}::${name}`;

class NotApplicable extends Error {}

export interface ResourceInput {
    readonly type: string;
    readonly name: string;
    readonly props: object;
}

export function resourceValidationArgs(resource: ResourceInput, config: object): ResourceValidationArgs {
    const props = analyzerProps(resource.props);
    return {
        type: resource.type,
        props,
        urn: urnOf(resource.type, resource.name),
        name: resource.name,
        opts: {
            protect: false,
            ignoreChanges: [],
            aliases: [],
            customTimeouts: { createSeconds: 0, updateSeconds: 0, deleteSeconds: 0 },
            additionalSecretOutputs: [],
        },
        stackTags: new Map(),
        isType: () => false,
        asType: () => undefined,
        getConfig: <T extends object>() => config as T,
        notApplicable: (reason?: string) => {
            throw new NotApplicable(reason);
        },
    };
}

/** The messages a resource policy reports for one resource. */
export async function violationsOf(policy: ResourceValidationPolicy, resource: ResourceInput, config: object = {}): Promise<string[]> {
    const messages: string[] = [];
    const validations =
        policy.validateResource === undefined ? [] : Array.isArray(policy.validateResource) ? policy.validateResource : [policy.validateResource];
    for (const validate of validations) {
        try {
            await validate(resourceValidationArgs(resource, config), (message) => messages.push(message));
        } catch (err) {
            if (!(err instanceof NotApplicable)) throw err;
        }
    }
    return messages;
}

export interface StackInput extends ResourceInput {
    /** Name of the parent among the inputs. */
    readonly parent?: string;
    /** Input property → names of the resources it was computed from. */
    readonly propertyDependencies?: Readonly<Record<string, readonly string[]>>;
}

/** Resources linked the way the server links them: parent, dependencies and property dependencies as objects. */
export function stackValidationArgs(inputs: readonly StackInput[], config: object): StackValidationArgs {
    const resources = new Map<string, PolicyResource>();
    for (const input of inputs) {
        const props = analyzerProps(input.props);
        resources.set(input.name, {
            type: input.type,
            props,
            urn: urnOf(input.type, input.name),
            name: input.name,
            opts: {
                protect: false,
                ignoreChanges: [],
                aliases: [],
                customTimeouts: { createSeconds: 0, updateSeconds: 0, deleteSeconds: 0 },
                additionalSecretOutputs: [],
            },
            dependencies: [],
            propertyDependencies: {},
            isType: () => false,
            asType: () => undefined,
        });
    }
    const find = (name: string) => {
        const resource = resources.get(name);
        if (resource === undefined) throw new Error(`stack input refers to "${name}", which is not among the inputs`);
        return resource;
    };
    for (const input of inputs) {
        const resource = find(input.name);
        if (input.parent !== undefined) resource.parent = find(input.parent);
        for (const [key, names] of Object.entries(input.propertyDependencies ?? {})) {
            resource.propertyDependencies[key] = names.map(find);
            for (const name of names) if (!resource.dependencies.includes(find(name))) resource.dependencies.push(find(name));
        }
    }
    return {
        resources: [...resources.values()],
        stackTags: new Map(),
        getConfig: <T extends object>() => config as T,
        notApplicable: (reason?: string) => {
            throw new NotApplicable(reason);
        },
    };
}

export interface StackViolation {
    readonly message: string;
    /** Name of the resource the violation is about; `undefined` for the stack as a whole. */
    readonly resource?: string;
}

export async function stackViolationsOf(policy: StackValidationPolicy, inputs: readonly StackInput[], config: object = {}): Promise<StackViolation[]> {
    const args = stackValidationArgs(inputs, config);
    const byUrn = new Map(args.resources.map((r) => [r.urn, r.name]));
    const violations: StackViolation[] = [];
    try {
        await policy.validateStack(args, (message, urn) => violations.push(urn === undefined ? { message } : { message, resource: byUrn.get(urn) ?? urn }));
    } catch (err) {
        if (!(err instanceof NotApplicable)) throw err;
    }
    return violations;
}

/** A deep copy of a fixture with one change made to it. */
export function changed<T>(fixture: T, change: (copy: any) => void): T {
    const copy = structuredClone(fixture);
    change(copy);
    return copy;
}
