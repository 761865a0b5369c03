import type { RecordedResource } from "../runtime";
import type { PolicyDiagnostic, PolicyRemediation } from "./wire";

/**
 * The engine's per-registration policy work (pulumi/pulumi pkg/resource/deploy/step_generator.go):
 * Remediate, whose new properties replace the inputs, then Analyze; and AnalyzeStack once at the
 * end. Resources may be added while the program still registers them, as the engine analyzes each
 * registration on arrival; calls may overlap, since each sees one resource, its provider and the
 * pack's configuration only, and results are reported in registration order whatever the overlap.
 */

/** The calls of a running pack this work needs (`PolicyPackHandle` in analyzer.ts). */
export interface AnalyzingPack {
    remediate(resource: RecordedResource, context: readonly RecordedResource[], properties: Record<string, unknown>): Promise<PolicyRemediation[]>;
    analyze(resource: RecordedResource, context: readonly RecordedResource[], properties: Record<string, unknown>): Promise<PolicyDiagnostic[]>;
    analyzeStack(resources: readonly RecordedResource[], remediated: ReadonlyMap<string, Record<string, unknown>>): Promise<PolicyDiagnostic[]>;
}

export interface PolicyAnalysis {
    /** Per-resource diagnostics in registration order, then AnalyzeStack's. */
    readonly diagnostics: readonly PolicyDiagnostic[];
    readonly remediations: readonly PolicyRemediation[];
}

interface ResourceAnalysis {
    readonly diagnostics: PolicyDiagnostic[];
    readonly remediations: PolicyRemediation[];
    /** Set when a remediation replaced the properties. */
    readonly properties?: Record<string, unknown>;
}

/** Remediate then Analyze one registration, given its provider (which registers before it). */
export async function analyzeResource(pack: AnalyzingPack, resource: RecordedResource, provider: RecordedResource | undefined): Promise<ResourceAnalysis> {
    const context = provider === undefined ? [resource] : [resource, provider];
    const diagnostics: PolicyDiagnostic[] = [];
    const remediations: PolicyRemediation[] = [];
    let properties = resource.wireInputs;
    let remediated: Record<string, unknown> | undefined;
    for (const remediation of await pack.remediate(resource, context, properties)) {
        remediations.push(remediation);
        if (remediation.diagnostic !== undefined) {
            // A remediation that could not run (e.g. an unknown value in preview) is shown as an advisory violation.
            const { policyName, policyPackName, policyPackVersion, description, urn } = remediation;
            diagnostics.push({
                policyName,
                policyPackName,
                policyPackVersion,
                description,
                urn,
                enforcementLevel: "advisory",
                message: remediation.diagnostic,
            });
        } else if (remediation.properties !== undefined) {
            properties = remediation.properties;
            remediated = properties;
        }
    }
    diagnostics.push(...(await pack.analyze(resource, context, properties)));
    return { diagnostics, remediations, ...(remediated !== undefined && { properties: remediated }) };
}

/** `RecordedResource.provider` is `<provider urn>::<provider id>`. */
function providerUrnOf(resource: RecordedResource): string | undefined {
    return resource.provider === undefined ? undefined : resource.provider.slice(0, resource.provider.lastIndexOf("::"));
}

interface Entry {
    readonly resource: RecordedResource;
    /** Settled when the resource's analysis is done; awaited, in registration order, by finish(). */
    readonly result: Promise<ResourceAnalysis>;
    readonly settle: { resolve(result: ResourceAnalysis): void; reject(error: unknown): void };
}

export class AnalysisQueue {
    private readonly entries = new Map<string, Entry>();
    private readonly pending: Entry[] = [];
    private pack: AnalyzingPack | undefined;
    private inFlight = 0;
    private analyzed = 0;

    /**
     * @param concurrency Remediate+Analyze calls in flight at once; the engine makes one at a time.
     * @param onProgress called after each resource, with how many are analyzed and how many are known.
     */
    constructor(
        private readonly concurrency = 1,
        private readonly onProgress?: (done: number, known: number) => void,
    ) {
        if (!Number.isInteger(concurrency) || concurrency < 1) throw new Error(`analysis concurrency must be an integer ≥ 1, got ${concurrency}`);
    }

    /** A registration to analyze; queued until the pack is ready. */
    add(resource: RecordedResource): void {
        let settle!: Entry["settle"];
        const result = new Promise<ResourceAnalysis>((resolve, reject) => {
            settle = { resolve, reject };
        });
        // A failure surfaces in finish(); until then keep Node from reporting it as unhandled.
        result.catch(() => undefined);
        const entry = { resource, result, settle };
        this.entries.set(resource.urn, entry);
        this.pending.push(entry);
        this.pump();
    }

    /** The pack answers: work through what has queued up. */
    start(pack: AnalyzingPack): void {
        this.pack = pack;
        this.pump();
    }

    /** Once every registration is added: wait for their analyses, then analyze the stack. */
    async finish(pack: AnalyzingPack, resources: readonly RecordedResource[]): Promise<PolicyAnalysis> {
        for (const resource of resources) if (!this.entries.has(resource.urn)) this.add(resource);
        this.start(pack);
        const diagnostics: PolicyDiagnostic[] = [];
        const remediations: PolicyRemediation[] = [];
        const remediated = new Map<string, Record<string, unknown>>();
        for (const resource of resources) {
            const result = await (this.entries.get(resource.urn) as Entry).result;
            diagnostics.push(...result.diagnostics);
            remediations.push(...result.remediations);
            if (result.properties !== undefined) remediated.set(resource.urn, result.properties);
        }
        diagnostics.push(...(await pack.analyzeStack(resources, remediated)));
        return { diagnostics, remediations };
    }

    private pump(): void {
        const pack = this.pack;
        while (pack !== undefined && this.inFlight < this.concurrency && this.pending.length > 0) {
            const entry = this.pending.shift() as Entry;
            const providerUrn = providerUrnOf(entry.resource);
            const provider = providerUrn === undefined ? undefined : this.entries.get(providerUrn)?.resource;
            this.inFlight++;
            analyzeResource(pack, entry.resource, provider)
                .then(entry.settle.resolve, entry.settle.reject)
                .finally(() => {
                    this.inFlight--;
                    this.analyzed++;
                    this.onProgress?.(this.analyzed, this.entries.size);
                    this.pump();
                });
        }
    }
}
