import * as assert from "node:assert/strict";
import { runProgram } from "../../offline/runtime";
import { platformConfigProblems } from "../../infra/validation";
import { BASE_CONFIG } from "../harness";
import main = require("../../infra");

/**
 * Every rule a component has about what it can serve, broken through the stack file: the program
 * must refuse it before it registers anything but the stack, naming the `mlops-platform:` key the
 * user wrote (not a component's argument) and the bad value.
 */

const MODEL = { registeredModel: "m", version: "1", resources: { cpu: "1", memory: "1Gi" } };

/** BASE_CONFIG with these `mlops-platform:` sections replaced (given as their decoded values). */
function stack(sections: Record<string, unknown>): Record<string, string> {
    const config: Record<string, string> = { ...BASE_CONFIG };
    for (const [section, value] of Object.entries(sections)) config[`mlops-platform:${section}`] = typeof value === "string" ? value : JSON.stringify(value);
    return config;
}

const withModel = (model: Record<string, unknown>, more: Record<string, unknown> = {}) => stack({ models: { m: { ...MODEL, ...model } }, ...more });
const cluster = (more: Record<string, unknown>) => ({
    oidcProviderArn: "arn:aws:iam::123456789012:oidc-provider/oidc.eks.eu-west-1.amazonaws.com/id/TEST",
    domain: "ml.test.example.com",
    ...more,
});
const GATEWAY = { name: "public", namespace: "istio-ingress" };

const LONG_DOMAIN = `${"a".repeat(63)}.${"b".repeat(63)}.${"c".repeat(63)}.${"d".repeat(61)}`;
const LONG_STACK = "s".repeat(62);

/** [component rule, stack that breaks it, the one problem the program reports, the stack's name]. */
const CASES: ReadonlyArray<readonly [string, Record<string, string>, string, string?]> = [
    [
        "ModelServing: istio serves model hosts through a Gateway",
        withModel({}, { flagger: { meshProvider: "istio" } }),
        'mlops-platform:cluster.gateway: is required with the provider "istio" (the Gateway that serves m.ml.test.example.com), got nothing',
    ],
    [
        "ModelServing: Gateway API serves model hosts through a Gateway",
        withModel({}, { flagger: { meshProvider: "gatewayapi:v1" } }),
        'mlops-platform:cluster.gateway: is required with the provider "gatewayapi:v1" (the Gateway that serves m.ml.test.example.com), got nothing',
    ],
    [
        "ModelServing: NGINX serves model hosts through an Ingress, never a Gateway",
        withModel({}, { cluster: cluster({ gateway: GATEWAY }) }),
        'mlops-platform:cluster.gateway: applies only to a Gateway provider ("istio", "gatewayapi:v1" or "gatewayapi:v1beta1"); with "nginx" the host is served by an Ingress, got {"name":"public","namespace":"istio-ingress"}',
    ],
    [
        "ModelServing: a model that answers labels publishes no confidence for a canary to check",
        withModel({ outputs: "labels", canary: { quality: { minConfidence: 0.7 } } }),
        'mlops-platform:models.m.canary.quality.minConfidence: cannot be checked: the model answers labels (outputs "labels"), so no prediction confidence is published, got 0.7',
    ],
    [
        "ModelServing: nor for an alerting rule to watch",
        withModel({ outputs: "labels", monitoring: { confidence: { alert: 0.6 } } }),
        'mlops-platform:models.m.monitoring.confidence: cannot be checked: the model answers labels (outputs "labels"), so no prediction confidence is published, got {"alert":0.6}',
    ],
    [
        "ModelServing: at least as many pods at most as at least",
        withModel({ replicas: { min: 3, max: 2 } }),
        "mlops-platform:models.m.replicas.max: must be at least the minimum (3), got 2",
    ],
    [
        "ModelServing: a CPU limit under the request",
        withModel({ resources: { cpu: "2", memory: "1Gi", cpuLimit: "1" } }),
        'mlops-platform:models.m.resources.cpuLimit: must be at least the CPU request (2), got "1"',
    ],
    [
        "ModelServing: step weights ascend",
        withModel({ canary: { stepWeights: [10, 5] } }),
        "mlops-platform:models.m.canary.stepWeights[1]: must be more than the step before (10): weights ascend, got [10,5]",
    ],
    [
        "ModelServing: A/B testing does not shift weights",
        withModel({ canary: { abTesting: {}, stepWeights: [10] } }),
        "mlops-platform:models.m.canary.stepWeights: cannot be combined with abTesting, which routes by header instead of shifting weights: remove one, got [10]",
    ],
    [
        "ModelServing: an A/B test is not mirrored",
        withModel({ canary: { abTesting: {}, mirror: true } }, { flagger: { meshProvider: "istio" }, cluster: cluster({ gateway: GATEWAY }) }),
        "mlops-platform:models.m.canary.mirror: cannot be combined with abTesting, got true",
    ],
    [
        "ModelServing: only Istio mirrors a weighted canary",
        withModel({ canary: { mirror: true } }, { flagger: { meshProvider: "gatewayapi:v1beta1" }, cluster: cluster({ gateway: GATEWAY }) }),
        'mlops-platform:models.m.canary.mirror: needs a provider that mirrors traffic ("istio"), and this one is "gatewayapi:v1beta1", got true',
    ],
    [
        "ModelServing: a mirror weight needs mirroring",
        withModel({ canary: { mirrorWeight: 20 } }),
        "mlops-platform:models.m.canary.mirrorWeight: applies only when mirror is true, got 20",
    ],
    [
        "ModelServing, MlflowServer, ArgoCd: every host under the domain is a DNS name (the schema leaves room for them)",
        withModel({}, { cluster: cluster({ domain: LONG_DOMAIN }) }),
        `mlops-platform:cluster.domain: expected a DNS name of at most 200 characters such as "ml.example.com", got ${JSON.stringify(LONG_DOMAIN).slice(0, 77)}...`,
    ],
    [
        "ModelServing: the Argo CD Application name fits a DNS label",
        withModel({}, { delivery: { mode: "gitops", repoUrl: "https://github.com/example-org/models.git" } }),
        `ModelServing "m": stack "${LONG_STACK}" makes the Argo CD Application name "${LONG_STACK}-m", which is not a DNS label of at most 63 characters`,
        LONG_STACK,
    ],
    [
        "CertManager: an ACME issuer needs an account e-mail",
        stack({ certManager: { issuer: "letsencrypt" } }),
        'mlops-platform:certManager.acmeEmail: is required by the "letsencrypt" issuer, got nothing',
    ],
    [
        "ArgoCd: the AppProject admits exactly the delivery repository",
        stack({ delivery: { mode: "gitops", repoUrl: "https://github.com/example-org/*" } }),
        'mlops-platform:delivery.repoUrl: must name a repository exactly, without wildcards, got "https://github.com/example-org/*"',
    ],
];

describe("the program refuses what a component cannot serve, before registering anything", () => {
    for (const [rule, config, problem, stackName = "test"] of CASES) {
        it(rule, async () => {
            const run = await runProgram({ stack: stackName, config }, async () => {
                try {
                    await main();
                    return { error: "" };
                } catch (error) {
                    return { error: (error as Error).message };
                }
            });
            assert.equal(run.outputs.error, `stack "${stackName}" configuration has 1 problem:\n  - ${problem}`);
            assert.deepEqual(
                run.resources.map((r) => r.type),
                ["pulumi:pulumi:Stack"],
            );
        });
    }

    it("reports schema problems and component problems together, and skips components that read an invalid section", () => {
        const config = stack({
            flagger: { meshProvider: "istio" },
            models: { good: { ...MODEL, replicas: { min: 2, max: 1 } }, bad: { ...MODEL, version: "latest" } },
            certManager: { issuer: "letsencryp" },
        });
        const problems = platformConfigProblems(config, "test").problems.map((p) => `${p.path}: ${p.message}`);
        assert.deepEqual(problems, [
            'mlops-platform:certManager.issuer: expected one of "letsencrypt", "letsencrypt-staging", "self-signed", got "letsencryp"',
            'mlops-platform:models.bad.version: expected a pinned registry version such as "7" (never "latest" or an alias), got "latest"',
            'mlops-platform:cluster.gateway: is required with the provider "istio" (the Gateway that serves good.ml.test.example.com), got nothing',
            "mlops-platform:models.good.replicas.max: must be at least the minimum (2), got 1",
        ]);
    });

    it("says a problem with a stack-wide key once, not once per model that reads it", () => {
        const config = stack({
            cluster: cluster({ gateway: GATEWAY }),
            models: { first: MODEL, second: MODEL, third: MODEL },
        });
        assert.deepEqual(
            platformConfigProblems(config, "test").problems.map((p) => `${p.path}: ${p.message}`),
            [
                'mlops-platform:cluster.gateway: applies only to a Gateway provider ("istio", "gatewayapi:v1" or "gatewayapi:v1beta1"); with "nginx" the host is served by an Ingress, got {"name":"public","namespace":"istio-ingress"}',
            ],
        );
    });

    it("does not judge models by a mesh provider the schema refused", () => {
        const config = withModel({ canary: { mirror: true } }, { flagger: { meshProvider: "linkerd" } });
        assert.deepEqual(
            platformConfigProblems(config, "test").problems.map((p) => `${p.path}: ${p.message}`),
            ['mlops-platform:flagger.meshProvider: expected one of "nginx", "istio", "gatewayapi:v1", "gatewayapi:v1beta1", got "linkerd"'],
        );
    });
});
