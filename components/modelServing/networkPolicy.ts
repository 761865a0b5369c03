import { LABELS, PART_OF } from "../labels";
import type { FlowSource, IngressFlow } from "../networkPolicies";
import { PROXY_PORT, TELEMETRY_PORT } from "./telemetry";

/**
 * The flows into model pods. A model pod's ports (modelServing/telemetry.ts): predictions on 8080
 * (the telemetry proxy's `http`, in front of the scoring server, which listens on 127.0.0.1 only)
 * and the telemetry on 8090 (`/metrics`, and `/mlops/replay`, which Flagger's load tester calls
 * during an analysis). Flagger's primary pods keep these labels: it copies the pod template and
 * only renames `app.kubernetes.io/name`.
 */
export const MODEL_POD_PORTS = { predictions: PROXY_PORT, telemetry: TELEMETRY_PORT } as const;

/** Every model pod of the platform, primary and canary, whatever the model. */
export const MODEL_POD_LABELS: Readonly<Record<string, string>> = { [LABELS.component]: "model-server", [LABELS.partOf]: PART_OF };

export interface ModelServingSources {
    /** Whoever routes public traffic to model pods: the ingress controller's namespace, or the Gateway's. */
    readonly router: FlowSource;
    /** Flagger's load tester: acceptance tests and load during an analysis. @default - none (Flagger not installed) */
    readonly loadTester?: FlowSource;
    /** Prometheus: the telemetry port. @default - none (no Prometheus known) */
    readonly metrics?: FlowSource;
}

export function modelServingFlows(sources: ModelServingSources): IngressFlow[] {
    return [
        {
            name: "model-predictions",
            description: "Requests reach model pods' predictions port from the router, and from Flagger's load tester during an analysis.",
            pods: MODEL_POD_LABELS,
            ports: [MODEL_POD_PORTS.predictions],
            from: [sources.router, ...(sources.loadTester !== undefined ? [sources.loadTester] : [])],
        },
        ...(sources.metrics !== undefined || sources.loadTester !== undefined
            ? [
                  {
                      name: "model-telemetry",
                      description:
                          "Prometheus scrapes model pods' telemetry (request and model-quality metrics); Flagger's load tester replays the version's evaluation sample through it.",
                      pods: MODEL_POD_LABELS,
                      ports: [MODEL_POD_PORTS.telemetry],
                      from: [...(sources.metrics !== undefined ? [sources.metrics] : []), ...(sources.loadTester !== undefined ? [sources.loadTester] : [])],
                  },
              ]
            : []),
    ];
}
