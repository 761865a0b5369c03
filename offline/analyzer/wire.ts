import * as analyzerPb from "@pulumi/pulumi/proto/analyzer_pb";
import { Struct } from "google-protobuf/google/protobuf/struct_pb";
import type { RecordedResource } from "../runtime";
import { type EnforcementLevel, type JsonSchema, type PolicyConfig, type PolicyConfigInfo } from "./config";

/**
 * Maps recorded registrations to the messages the engine sends an analyzer, and the analyzer's
 * answers back to plain values. Field by field after pulumi/pulumi:
 * - pkg/resource/deploy/step_generator.go `generateSteps` (Remediate then Analyze per resource:
 *   URN, type, `URN.Name()`, inputs, options with parent, provider from `getProviderResource`)
 *   and `AnalyzeResources` (AnalyzeStack: same, options without parent, plus parent,
 *   dependencies and non-empty property dependencies);
 * - sdk/go/common/resource/plugin/analyzer_plugin.go (`marshalResourceOptions`, `marshalProvider`,
 *   `convertDiagnostics`, `GetAnalyzerInfo`, `Configure`): `MarshalProperties` with
 *   KeepUnknowns/KeepSecrets/SkipInternalKeys, so secrets and unknowns travel in their wire form.
 */

export type Severity = "low" | "medium" | "high" | "critical";
export type PolicyType = "resource" | "stack" | "unknown";

export interface PolicyInfo extends PolicyConfigInfo {
    readonly displayName: string;
    readonly description: string;
    readonly message: string;
    readonly type: PolicyType;
    readonly severity?: Severity;
    readonly tags: readonly string[];
    readonly remediationSteps: string;
    readonly url: string;
}

/** `analyzer.GetAnalyzerInfo` as the CLI sees it: policies sorted by name, schemas with `enforcementLevel`. */
export interface AnalyzerInfo {
    readonly name: string;
    readonly displayName: string;
    /** PulumiPolicy.yaml's `version` when set, else the pack's package.json version. */
    readonly version: string;
    readonly description: string;
    readonly supportsConfig: boolean;
    readonly policies: readonly PolicyInfo[];
    readonly initialConfig: ReadonlyMap<string, PolicyConfig>;
}

/** A policy violation, as `pulumi preview` reports it. */
export interface PolicyDiagnostic {
    readonly policyName: string;
    readonly policyPackName: string;
    readonly policyPackVersion: string;
    readonly enforcementLevel: EnforcementLevel;
    readonly description: string;
    readonly message: string;
    readonly urn?: string;
    readonly severity?: Severity;
}

/** What a remediation did to a resource: new properties, or a diagnostic instead. */
export interface PolicyRemediation {
    readonly policyName: string;
    readonly policyPackName: string;
    readonly policyPackVersion: string;
    readonly description: string;
    readonly urn: string;
    readonly properties?: Record<string, unknown>;
    readonly diagnostic?: string;
}

const LEVEL_TO_PB: Record<EnforcementLevel, analyzerPb.EnforcementLevel> = {
    advisory: analyzerPb.EnforcementLevel.ADVISORY,
    mandatory: analyzerPb.EnforcementLevel.MANDATORY,
    remediate: analyzerPb.EnforcementLevel.REMEDIATE,
    disabled: analyzerPb.EnforcementLevel.DISABLED,
};

export function enforcementLevelToPb(level: EnforcementLevel): analyzerPb.EnforcementLevel {
    return LEVEL_TO_PB[level];
}

export function enforcementLevelFromPb(level: analyzerPb.EnforcementLevel): EnforcementLevel {
    const found = (Object.keys(LEVEL_TO_PB) as EnforcementLevel[]).find((name) => LEVEL_TO_PB[name] === level);
    if (found === undefined) throw new Error(`invalid enforcement level ${level}`);
    return found;
}

function severityFromPb(severity: analyzerPb.PolicySeverity): Severity | undefined {
    switch (severity) {
        case analyzerPb.PolicySeverity.POLICY_SEVERITY_LOW:
            return "low";
        case analyzerPb.PolicySeverity.POLICY_SEVERITY_MEDIUM:
            return "medium";
        case analyzerPb.PolicySeverity.POLICY_SEVERITY_HIGH:
            return "high";
        case analyzerPb.PolicySeverity.POLICY_SEVERITY_CRITICAL:
            return "critical";
        default:
            return undefined;
    }
}

function policyTypeFromPb(type: analyzerPb.PolicyType): PolicyType {
    if (type === analyzerPb.PolicyType.POLICY_TYPE_RESOURCE) return "resource";
    if (type === analyzerPb.PolicyType.POLICY_TYPE_STACK) return "stack";
    return "unknown";
}

/** The schema property the CLI injects into every policy of a pack that supports config. */
const ENFORCEMENT_LEVEL_SCHEMA: JsonSchema = { type: "string", enum: ["advisory", "mandatory", "remediate", "disabled"] };

export function analyzerInfoFromPb(response: analyzerPb.AnalyzerInfo, project: { readonly version?: string; readonly description?: string }): AnalyzerInfo {
    const supportsConfig = response.getSupportsconfig();
    const policies = response.getPoliciesList().map((policy): PolicyInfo => {
        let configSchema: PolicyInfo["configSchema"];
        if (supportsConfig) {
            const schema = policy.getConfigschema();
            const properties = (schema?.getProperties()?.toJavaScript() ?? {}) as Record<string, JsonSchema>;
            configSchema = {
                properties: { ...properties, enforcementLevel: ENFORCEMENT_LEVEL_SCHEMA },
                required: schema?.getRequiredList() ?? [],
            };
        }
        const severity = severityFromPb(policy.getSeverity());
        return {
            name: policy.getName(),
            displayName: policy.getDisplayname(),
            description: policy.getDescription(),
            enforcementLevel: enforcementLevelFromPb(policy.getEnforcementlevel()),
            message: policy.getMessage(),
            ...(configSchema !== undefined && { configSchema }),
            type: policyTypeFromPb(policy.getPolicyType()),
            ...(severity !== undefined && { severity }),
            tags: policy.getTagsList(),
            remediationSteps: policy.getRemediationSteps(),
            url: policy.getUrl(),
        };
    });
    policies.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    const initialConfig = new Map<string, PolicyConfig>();
    response.getInitialconfigMap().forEach((config, name) => {
        initialConfig.set(name, {
            enforcementLevel: enforcementLevelFromPb(config.getEnforcementlevel()),
            properties: config.getProperties()?.toJavaScript(),
        });
    });
    return {
        name: response.getName(),
        displayName: response.getDisplayname(),
        version: project.version !== undefined && project.version !== "" ? project.version : response.getVersion(),
        description: response.getDescription() !== "" ? response.getDescription() : (project.description ?? ""),
        supportsConfig,
        policies,
        initialConfig,
    };
}

/** `analyzer.Configure`: every entry always carries a (possibly empty) properties Struct. */
export function configureRequest(config: ReadonlyMap<string, PolicyConfig>): analyzerPb.ConfigureAnalyzerRequest {
    const request = new analyzerPb.ConfigureAnalyzerRequest();
    const map = request.getPolicyconfigMap();
    for (const [name, policyConfig] of config) {
        if (policyConfig.enforcementLevel === "") throw new Error(`invalid enforcement level ""`);
        const entry = new analyzerPb.PolicyConfig();
        entry.setEnforcementlevel(enforcementLevelToPb(policyConfig.enforcementLevel));
        entry.setProperties(toStruct(policyConfig.properties ?? {}));
        map.set(name, entry);
    }
    return request;
}

/**
 * Resolves provider references (`<provider urn>::<provider id>`) against the recorded resources.
 * Resources on a default provider have no reference under the SDK's mocks (the engine would
 * synthesize `pulumi:providers:<pkg>::default_<version>`), so they get no provider.
 */
export class ResourceIndex {
    private readonly byUrn: Map<string, RecordedResource>;
    constructor(resources: readonly RecordedResource[]) {
        this.byUrn = new Map(resources.map((r) => [r.urn, r]));
    }
    has(urn: string): boolean {
        return this.byUrn.has(urn);
    }
    /** `providers.ParseReference` splits at the LAST "::"; `getProviderResource` looks the URN up. */
    provider(reference: string | undefined): RecordedResource | undefined {
        if (reference === undefined || reference === "") return undefined;
        const separator = reference.lastIndexOf("::");
        return separator < 0 ? undefined : this.byUrn.get(reference.slice(0, separator));
    }
    /** The root stack resource's URN, where AnalyzeStack diagnostics without a known URN land. */
    rootStackUrn(): string | undefined {
        for (const resource of this.byUrn.values()) if (resource.type === "pulumi:pulumi:Stack" && resource.parent === undefined) return resource.urn;
        return undefined;
    }
}

/** `URN.Name()`: everything after the third "::" (names may themselves contain "::"). */
export function urnName(urn: string): string {
    return urn.split("::").slice(3).join("::");
}

/** The AnalyzeRequest the engine sends for one registration (also the Remediate request). */
export function analyzeRequest(resource: RecordedResource, index: ResourceIndex, properties = resource.wireInputs): analyzerPb.AnalyzeRequest {
    const request = new analyzerPb.AnalyzeRequest();
    request.setUrn(resource.urn);
    request.setType(resource.type);
    request.setName(urnName(resource.urn));
    request.setProperties(toStruct(properties));
    request.setOptions(resourceOptions(resource, true));
    const provider = providerResource(resource, index);
    if (provider !== undefined) request.setProvider(provider);
    return request;
}

/** One entry of AnalyzeStack's resource list. */
export function stackResource(resource: RecordedResource, index: ResourceIndex, properties = resource.wireInputs): analyzerPb.AnalyzerResource {
    const message = new analyzerPb.AnalyzerResource();
    message.setUrn(resource.urn);
    message.setType(resource.type);
    message.setName(urnName(resource.urn));
    message.setProperties(toStruct(properties));
    // `AnalyzeResources` builds the options without Parent; the parent travels in its own field.
    message.setOptions(resourceOptions(resource, false));
    const provider = providerResource(resource, index);
    if (provider !== undefined) message.setProvider(provider);
    message.setParent(resource.parent ?? "");
    message.setDependenciesList([...resource.dependencies]);
    const propertyDependencies = message.getPropertydependenciesMap();
    for (const [key, urns] of Object.entries(resource.propertyDependencies)) {
        if (urns.length === 0) continue; // "Skip properties that have no dependencies."
        propertyDependencies.set(key, new analyzerPb.AnalyzerPropertyDependencies().setUrnsList([...urns]));
    }
    return message;
}

function resourceOptions(resource: RecordedResource, withParent: boolean): analyzerPb.AnalyzerResourceOptions {
    const options = new analyzerPb.AnalyzerResourceOptions();
    options.setProtect(resource.options.protect);
    options.setIgnorechangesList([...resource.options.ignoreChanges]);
    // The engine's goal keeps deleteBeforeReplace as *bool; the recording knows only true/false,
    // so `false` is taken as "not set" (the SDK's default).
    options.setDeletebeforereplace(resource.options.deleteBeforeReplace);
    options.setDeletebeforereplacedefined(resource.options.deleteBeforeReplace);
    options.setAdditionalsecretoutputsList([...resource.options.additionalSecretOutputs]);
    options.setAliasesList([]);
    const timeouts = new analyzerPb.AnalyzerResourceOptions.CustomTimeouts();
    const recorded = resource.options.customTimeouts;
    timeouts.setCreate(goDurationSeconds(recorded?.create));
    timeouts.setUpdate(goDurationSeconds(recorded?.update));
    timeouts.setDelete(goDurationSeconds(recorded?.delete));
    options.setCustomtimeouts(timeouts);
    if (withParent) options.setParent(resource.parent ?? "");
    return options;
}

function providerResource(resource: RecordedResource, index: ResourceIndex): analyzerPb.AnalyzerProviderResource | undefined {
    const provider = index.provider(resource.provider);
    if (provider === undefined) return undefined;
    const message = new analyzerPb.AnalyzerProviderResource();
    message.setUrn(provider.urn);
    message.setType(provider.type);
    message.setName(urnName(provider.urn));
    message.setProperties(toStruct(provider.wireInputs));
    return message;
}

/** `MarshalProperties` with SkipInternalKeys drops `__`-prefixed keys at every level. */
export function toStruct(value: Readonly<Record<string, unknown>>): Struct {
    return Struct.fromJavaScript(skipInternalKeys(value) as Parameters<typeof Struct.fromJavaScript>[0]);
}

function skipInternalKeys(value: unknown): unknown {
    if (Array.isArray(value)) return value.map(skipInternalKeys);
    if (value === null || typeof value !== "object") return value;
    return Object.fromEntries(
        Object.entries(value as Record<string, unknown>)
            .filter(([key, v]) => !key.startsWith("__") && v !== undefined)
            .map(([key, v]) => [key, skipInternalKeys(v)]),
    );
}

const GO_DURATION_UNITS: Record<string, number> = { ns: 1e-9, us: 1e-6, µs: 1e-6, μs: 1e-6, ms: 1e-3, s: 1, m: 60, h: 3600 };

/**
 * The resource monitor turns the SDK's custom-timeout strings into seconds with Go's
 * `time.ParseDuration` ("1h30m", "90s", "1.5m"); empty means 0.
 */
export function goDurationSeconds(duration: string | undefined): number {
    if (duration === undefined || duration === "") return 0;
    const match = /^([+-]?)((?:\d+(?:\.\d*)?|\.\d+)(?:ns|us|µs|μs|ms|s|m|h))+$/.exec(duration);
    if (match === null) {
        if (/^[+-]?0$/.test(duration)) return 0;
        throw new Error(`time: invalid duration ${JSON.stringify(duration)}`);
    }
    let seconds = 0;
    for (const part of duration.matchAll(/(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)/g)) {
        seconds += Number(part[1]) * (GO_DURATION_UNITS[part[2] ?? "s"] ?? 1);
    }
    return match[1] === "-" ? -seconds : seconds;
}

/** `convertDiagnostics`: PulumiPolicy.yaml's version wins; a missing severity comes from the policy. */
export function diagnosticFromPb(diagnostic: analyzerPb.AnalyzeDiagnostic, info: AnalyzerInfo, urn: string | undefined): PolicyDiagnostic {
    const severity = severityFromPb(diagnostic.getSeverity()) ?? info.policies.find((p) => p.name === diagnostic.getPolicyname())?.severity;
    return {
        policyName: diagnostic.getPolicyname(),
        policyPackName: diagnostic.getPolicypackname(),
        policyPackVersion: info.version !== "" ? info.version : diagnostic.getPolicypackversion(),
        enforcementLevel: enforcementLevelFromPb(diagnostic.getEnforcementlevel()),
        description: diagnostic.getDescription(),
        message: diagnostic.getMessage(),
        ...(urn !== undefined && { urn }),
        ...(severity !== undefined && { severity }),
    };
}

export function remediationFromPb(remediation: analyzerPb.Remediation, info: AnalyzerInfo, urn: string): PolicyRemediation {
    const properties = remediation.getProperties()?.toJavaScript();
    const diagnostic = remediation.getDiagnostic();
    return {
        policyName: remediation.getPolicyname(),
        policyPackName: remediation.getPolicypackname(),
        policyPackVersion: info.version !== "" ? info.version : remediation.getPolicypackversion(),
        description: remediation.getDescription(),
        urn,
        ...(properties !== undefined && { properties }),
        ...(diagnostic !== "" && { diagnostic }),
    };
}
