/**
 * The names a model takes in the models namespace. A model's serving stack names its objects after
 * the model, Flagger names what it creates after the Canary's target (`<model>-primary` Deployment,
 * HPA and Service, `<model>-canary` Service), and the telemetry and monitoring objects carry a suffix:
 * two models, or a model and a platform object, must never claim the same name.
 */
export const MODEL_OBJECT_SUFFIXES: Readonly<Record<string, string>> = {
    "": "the Deployment, Service, Canary and Ingress",
    "-primary": "the Flagger primary Deployment and Service",
    "-canary": "the Flagger canary Service",
    "-telemetry": "the telemetry Service",
    "-telemetry-primary": "the primary's telemetry Service",
    "-alert-rules": "the alerting rules",
    "-pod-monitor": "the PodMonitor",
};

/** Why a model may not take its name, for each model that may not; empty when every name is free. */
export function modelNameCollisions(
    models: readonly string[],
    reserved: Readonly<Record<string, string>>,
): { readonly model: string; readonly message: string }[] {
    const claimed = new Map<string, string>();
    for (const model of models) {
        for (const [suffix, what] of Object.entries(MODEL_OBJECT_SUFFIXES)) {
            if (suffix !== "") claimed.set(`${model}${suffix}`, `${what} of model "${model}" ("${model}${suffix}")`);
        }
    }
    const found: { model: string; message: string }[] = [];
    for (const model of models) {
        const platform = reserved[model];
        if (platform !== undefined) {
            found.push({ model, message: `is reserved: the platform's ${platform} already has this name; choose another model name` });
            continue;
        }
        // Either way round: "fraud" beside "fraud-primary", or "fraud-primary" beside "fraud".
        const taken = claimed.get(model);
        if (taken !== undefined) found.push({ model, message: `collides with ${taken}; choose another model name` });
    }
    return found;
}
