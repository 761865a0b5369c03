import * as pulumi from "@pulumi/pulumi";
import { PROJECT } from "../stacks";
import { type MockCloud, PlatformMocks } from "./mocks";

/**
 * Runs a Pulumi program in this process under the SDK's own mock runtime and records every
 * resource it registers, with what the engine itself would know of it (parent, provider,
 * dependencies, options, and the inputs exactly as serialized on the wire). The policy pack is
 * later driven with these records, as `pulumi preview` drives it with the engine's.
 */

/** One resource as the engine saw it register. */
export interface RecordedResource {
    readonly urn: string;
    readonly type: string;
    readonly name: string;
    readonly custom: boolean;
    /** URN of the parent; the stack's URN for top-level resources. */
    readonly parent?: string;
    /** Provider reference, `<provider urn>::<provider id>`, for custom resources. */
    readonly provider?: string;
    readonly dependencies: readonly string[];
    readonly propertyDependencies: Readonly<Record<string, readonly string[]>>;
    /** Inputs as plain values (secrets unwrapped): what renders to YAML. */
    readonly inputs: Record<string, unknown>;
    /** Inputs as sent over gRPC: secrets still wrapped in their signature, as an analyzer receives them. */
    readonly wireInputs: Record<string, unknown>;
    readonly options: {
        readonly protect: boolean;
        readonly retainOnDelete: boolean;
        readonly ignoreChanges: readonly string[];
        readonly deleteBeforeReplace: boolean;
        readonly additionalSecretOutputs: readonly string[];
        readonly deletedWith?: string;
        readonly customTimeouts?: { readonly create?: string; readonly update?: string; readonly delete?: string };
    };
}

export interface ProgramRun<T> {
    readonly outputs: T;
    readonly resources: readonly RecordedResource[];
}

export interface RunOptions {
    readonly stack: string;
    /** Config values in the form `PULUMI_CONFIG` carries them (see `readStackFile`). */
    readonly config: Readonly<Record<string, string>>;
    readonly secretKeys?: readonly string[];
    readonly cloud?: Partial<MockCloud>;
    /** Called with each registration as it is answered, while the program still runs. */
    readonly onRegistered?: (resource: RecordedResource) => void;
}

// Runs share the SDK's process-wide state (monitor, config, stack resource), so they take turns.
let queue: Promise<unknown> = Promise.resolve();

/**
 * Runs `program` as the body of a stack and resolves once every registration has finished.
 * The program's returned object is the stack's outputs, as with `export = async () => ({...})`.
 */
export function runProgram<T extends Record<string, unknown> | void>(options: RunOptions, program: () => Promise<T> | T): Promise<ProgramRun<T>> {
    const run = queue.then(() => runExclusive(options, program));
    queue = run.catch(() => undefined);
    return run;
}

async function runExclusive<T extends Record<string, unknown> | void>(options: RunOptions, program: () => Promise<T> | T): Promise<ProgramRun<T>> {
    const cloud: MockCloud = {
        accountId: options.cloud?.accountId ?? accountFromConfig(options.config) ?? "123456789012",
        region: options.cloud?.region ?? options.config["aws:region"] ?? "eu-west-1",
    };
    await pulumi.runtime.setMocks(new PlatformMocks(cloud), PROJECT, options.stack, false);
    pulumi.runtime.setAllConfig({ ...options.config }, [...(options.secretKeys ?? [])]);
    const resources = recordRegistrations(options.onRegistered);

    let outputs: T | undefined;
    let failure: unknown;
    const stackOutputs = pulumi.runtime.runInPulumiStack(async () => {
        try {
            outputs = await program();
            return outputs as Record<string, unknown> | undefined;
        } catch (err) {
            failure = err;
            return undefined;
        }
    });
    await stackOutputs.catch((err: unknown) => {
        failure ??= err;
    });
    // Registrations started inside `apply` callbacks may still be in flight; the SDK's own RPC
    // queue knows when the last one is done (this is what `pulumi up` waits on before exiting).
    await waitForRegistrations();
    const recorded = [...resources.values()];
    if (failure !== undefined) throw failure;
    return { outputs: outputs as T, resources: recorded };
}

function accountFromConfig(config: Readonly<Record<string, string>>): string | undefined {
    const cluster = config[`${PROJECT}:cluster`];
    return cluster === undefined ? undefined : /arn:aws[a-z-]*:iam::(\d{12}):/.exec(cluster)?.[1];
}

interface RegisterRequest {
    getType(): string;
    getName(): string;
    getParent(): string;
    getCustom(): boolean;
    getProvider(): string;
    getProtect(): boolean;
    getRetainondelete(): boolean;
    getDeletebeforereplace(): boolean;
    getDeletedwith(): string;
    getDependenciesList(): string[];
    getIgnorechangesList(): string[];
    getAdditionalsecretoutputsList(): string[];
    getPropertydependenciesMap(): { forEach(cb: (deps: { getUrnsList(): string[] }, key: string) => void): void };
    getCustomtimeouts(): { getCreate(): string; getUpdate(): string; getDelete(): string } | undefined;
    getObject(): { toJavaScript(): Record<string, unknown> } | undefined;
}
type Callback = (err: unknown, response?: { getUrn(): string }) => void;
interface MonitorLike {
    registerResource(req: RegisterRequest, callback: Callback): Promise<void> | void;
}

/** Observes the mock monitor's registrations: the SDK passes mocks only type, name and inputs. */
function recordRegistrations(onRegistered?: (resource: RecordedResource) => void): Map<string, RecordedResource> {
    const recorded = new Map<string, RecordedResource>();
    const monitor = pulumi.runtime.getMonitor() as unknown as MonitorLike;
    const register = monitor.registerResource.bind(monitor);
    monitor.registerResource = (req, callback) =>
        register(req, (err, response) =>
            // The engine's answers arrive over gRPC, as I/O events; the mock monitor would answer inside
            // the program's own chain of promises and starve other I/O (such as a policy pack's replies).
            setImmediate(() => {
                if (!err && response) {
                    const resource = toRecord(response.getUrn(), req);
                    recorded.set(resource.urn, resource);
                    onRegistered?.(resource);
                }
                callback(err, response);
            }),
        );
    return recorded;
}

function toRecord(urn: string, req: RegisterRequest): RecordedResource {
    const wireInputs = req.getObject()?.toJavaScript() ?? {};
    const propertyDependencies: Record<string, string[]> = {};
    req.getPropertydependenciesMap().forEach((deps, key) => {
        propertyDependencies[key] = deps.getUrnsList();
    });
    const timeouts = req.getCustomtimeouts();
    const customTimeouts =
        timeouts && (timeouts.getCreate() || timeouts.getUpdate() || timeouts.getDelete())
            ? { create: timeouts.getCreate(), update: timeouts.getUpdate(), delete: timeouts.getDelete() }
            : undefined;
    return {
        urn,
        type: req.getType(),
        name: req.getName(),
        custom: req.getCustom(),
        ...(req.getParent() !== "" && { parent: req.getParent() }),
        ...(req.getProvider() !== "" && { provider: req.getProvider() }),
        dependencies: req.getDependenciesList(),
        propertyDependencies,
        inputs: unwrapSecrets(wireInputs) as Record<string, unknown>,
        wireInputs,
        options: {
            protect: req.getProtect(),
            retainOnDelete: req.getRetainondelete(),
            ignoreChanges: req.getIgnorechangesList(),
            deleteBeforeReplace: req.getDeletebeforereplace(),
            additionalSecretOutputs: req.getAdditionalsecretoutputsList(),
            ...(req.getDeletedwith() !== "" && { deletedWith: req.getDeletedwith() }),
            ...(customTimeouts !== undefined && { customTimeouts }),
        },
    };
}

/** The signature key and value the SDK wraps secret values in on the wire. */
export const SECRET_SIG = { key: "4dabf18193072939515e22adb298388d", secret: "1b47061264138c4ac30d75fd1eb44270" } as const;

export function unwrapSecrets(value: unknown): unknown {
    if (Array.isArray(value)) return value.map(unwrapSecrets);
    if (typeof value !== "object" || value === null) return value;
    const record = value as Record<string, unknown>;
    if (record[SECRET_SIG.key] === SECRET_SIG.secret) return unwrapSecrets(record["value"]);
    return Object.fromEntries(Object.entries(record).map(([k, v]) => [k, unwrapSecrets(v)]));
}

async function waitForRegistrations(): Promise<void> {
    // `waitForRPCs` is internal to the SDK (it is what `disconnect` awaits), so it has no typings.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const settings = require("@pulumi/pulumi/runtime/settings") as { waitForRPCs(): Promise<void> };
    await settings.waitForRPCs();
}
