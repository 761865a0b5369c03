import * as assert from "node:assert/strict";
import { applicationSetSpec, type ModelApplicationSetArgs, validateModelApplicationSetArgs } from "../../components/argoCd/applicationSet";
import { clusterConfig, validateArgoCdClusters } from "../../components/argoCd/clusters";
import { validateManifest } from "../../offline/manifests";
import { promiseOf } from "../harness";

const ARGS: ModelApplicationSetArgs = {
    model: "fraud-detector",
    environment: "production",
    stack: "production",
    project: "models",
    repoUrl: "https://github.com/example-org/mlops-platform.git",
    namespace: "models",
    clusters: [
        { name: "eu-cloud", destination: { server: "https://kubernetes.default.svc" }, region: "eu-west-1" },
        { name: "onprem-paris", destination: { name: "paris" } },
    ],
};

const applicationSet = (spec: Record<string, unknown>) => ({
    apiVersion: "argoproj.io/v1alpha1",
    kind: "ApplicationSet",
    metadata: { name: "production-fraud-detector", namespace: "argocd" },
    spec,
});

describe("ModelApplicationSet", () => {
    it("is valid against @kubernetes-models/argo-cd's ApplicationSet, with a cluster by server and one by registered name", async () => {
        const spec = applicationSetSpec(ARGS);
        assert.deepEqual(await validateManifest(applicationSet(spec)), []);
        assert.deepEqual((spec["generators"] as any)[0].list.elements, [
            { cluster: "eu-cloud", server: "https://kubernetes.default.svc", destinationName: "", region: "eu-west-1" },
            { cluster: "onprem-paris", server: "", destinationName: "paris", region: "" },
        ]);
        // Defaults: path "deploy", revision "HEAD".
        assert.deepEqual((spec["template"] as any).spec.source, {
            repoURL: ARGS.repoUrl,
            targetRevision: "HEAD",
            path: "deploy/production/{{ .cluster }}/fraud-detector",
            directory: { recurse: true },
        });
    });

    it("the schema check catches an ApplicationSet Argo CD would reject (it can fail)", async () => {
        const problems = await validateManifest(applicationSet({ ...applicationSetSpec(ARGS), generators: [{ list: { elements: "eu-cloud" } }] }));
        assert.ok(problems.length > 0);
        assert.ok(
            problems.every((p) => p.line.startsWith("ApplicationSet argocd/production-fraud-detector: spec.generators[0].list.elements")),
            problems[0]?.line,
        );
    });

    it("refuses one cluster (ModelServing's own Application serves it) and a name that overflows the Application's", () => {
        assert.deepEqual(validateModelApplicationSetArgs("fraud-detector", { ...ARGS, clusters: ARGS.clusters.slice(0, 1) }), [
            { arg: "clusters", message: "must list at least two clusters to fan out to, got 1" },
        ]);
        const long = "a".repeat(40);
        assert.deepEqual(validateModelApplicationSetArgs("fraud-detector", { ...ARGS, model: long, clusters: [...ARGS.clusters] }), [
            {
                arg: "clusters[1].name",
                message: `"onprem-paris" makes the Application name "production-${long}-onprem-paris", which is not a DNS label of at most 63 characters`,
            },
        ]);
    });
});

describe("Argo CD cluster registrations", () => {
    it("write Argo CD's documented config: a bearer token with the CA, TLS verified", async () => {
        assert.deepEqual(JSON.parse(await promiseOf(clusterConfig({ bearerToken: "token", caData: "QUJD" }))), {
            bearerToken: "token",
            tlsClientConfig: { insecure: false, caData: "QUJD" },
        });
    });

    it("or an IAM role for an EKS cluster (awsAuthConfig)", async () => {
        assert.deepEqual(JSON.parse(await promiseOf(clusterConfig({ awsAuth: { clusterName: "paris", roleArn: "arn:aws:iam::123456789012:role/argocd" } }))), {
            awsAuthConfig: { clusterName: "paris", roleARN: "arn:aws:iam::123456789012:role/argocd" },
            tlsClientConfig: { insecure: false },
        });
    });

    it("refuse credentials for a cluster known only by name, and duplicate names", () => {
        assert.deepEqual(
            validateArgoCdClusters([
                { name: "paris", destination: { name: "paris" }, credentials: { bearerToken: "t" } },
                { name: "paris", destination: { server: "https://k8s.example.com" } },
            ]),
            [
                { arg: "clusters[0].destination", message: 'must be an API server URL when credentials register the cluster, got {"name":"paris"}' },
                { arg: "clusters[1].name", message: 'must be unique, got "paris" twice' },
            ],
        );
    });
});
