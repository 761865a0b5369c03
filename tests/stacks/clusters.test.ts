import * as assert from "node:assert/strict";
import { platformConfigProblems } from "../../infra/validation";
import { clampReplicas, parsePlatformConfig, parseStackFile } from "../../stacks";
import { BASE_CONFIG } from "../harness";

const GITOPS = { mode: "gitops", repoUrl: "https://github.com/example-org/mlops-platform.git" };
const HOME = { name: "eu-cloud", destination: { server: "https://kubernetes.default.svc" } };
const REMOTE = { name: "onprem-paris", destination: { server: "https://k8s.paris.example.com:6443" } };
const TOKEN = { bearerToken: "s3cr3t-t0ken-never-shown" };
const CREDENTIALS_KEY = "mlops-platform:clusterCredentials";

function values(sections: Record<string, unknown>): Record<string, string> {
    return { ...BASE_CONFIG, ...Object.fromEntries(Object.entries(sections).map(([key, value]) => [`mlops-platform:${key}`, JSON.stringify(value)])) };
}

/** The problem lines, with clusterCredentials held as a config secret (as `pulumi config set --secret` leaves it). */
function problems(sections: Record<string, unknown>, secretKeys: readonly string[] = [CREDENTIALS_KEY]): string[] {
    return platformConfigProblems(values(sections), "test", secretKeys).problems.map((p) => `${p.path}: ${p.message}`);
}

describe("stack configuration: clusters", () => {
    it("resolves declared clusters in order, with credentials, GPU overrides and replica bounds", () => {
        const config = parsePlatformConfig(
            values({
                delivery: GITOPS,
                clusters: [
                    { ...HOME, region: "eu-west-1", labels: { provider: "aws" } },
                    { ...REMOTE, gpu: { nodeSelector: { rack: "gpu-a" } }, replicas: { max: 2 } },
                ],
                clusterCredentials: { "onprem-paris": TOKEN },
            }),
            "test",
        );
        assert.deepEqual(config.clusters, [
            { name: "eu-cloud", destination: HOME.destination, region: "eu-west-1", labels: { provider: "aws" }, gpu: {}, replicas: {} },
            {
                name: "onprem-paris",
                destination: REMOTE.destination,
                labels: {},
                gpu: { nodeSelector: { rack: "gpu-a" } },
                replicas: { max: 2 },
                credentials: TOKEN,
            },
        ]);
    });

    it("a stack without the key declares none (the one cluster Pulumi deploys to)", () => {
        assert.deepEqual(parsePlatformConfig(values({}), "test").clusters, []);
    });

    it("clamps a model's replicas into a cluster's bounds", () => {
        assert.deepEqual(clampReplicas({ min: 2, max: 10 }, { max: 3 }), { min: 2, max: 3 });
        assert.deepEqual(clampReplicas({ min: 1, max: 10 }, { min: 2, max: 4 }), { min: 2, max: 4 });
        assert.deepEqual(clampReplicas({ min: 5, max: 10 }, { max: 3 }), { min: 3, max: 3 });
        assert.deepEqual(clampReplicas({ min: 1, max: 3 }, {}), { min: 1, max: 3 });
    });

    const refused: Array<[string, Record<string, unknown>, string[]]> = [
        ["zero clusters", { clusters: [] }, ["mlops-platform:clusters: expected a list of clusters (at least 1), got []"]],
        [
            "a duplicate cluster name",
            { delivery: GITOPS, clusters: [HOME, REMOTE, { ...REMOTE, destination: { name: "paris" } }] },
            ['mlops-platform:clusters[2].name: expected a name no other cluster has, got "onprem-paris" (also clusters[1].name)'],
        ],
        [
            "several clusters without gitops delivery",
            { clusters: [HOME, REMOTE] },
            ['mlops-platform:clusters: expected one cluster while delivery.mode is "direct" (Argo CD fans models out to several), got 2'],
        ],
        [
            "a destination with both server and name",
            { clusters: [{ ...HOME, destination: { server: "https://kubernetes.default.svc", name: "in-cluster" } }] },
            [
                'mlops-platform:clusters[0].destination: expected exactly one of server or name, got {"server":"https://kubernetes.default.svc","name":"in-cluster"}',
            ],
        ],
        [
            "a cluster name that is not a short DNS label",
            { clusters: [{ ...HOME, name: "EU_Cloud" }] },
            [
                'mlops-platform:clusters[0].name: expected a cluster name: lower-case letters, digits and -, starting with a letter, at most 20 characters, got "EU_Cloud"',
            ],
        ],
        [
            "replica bounds upside down",
            { clusters: [{ ...HOME, replicas: { min: 4, max: 2 } }] },
            ['mlops-platform:clusters[0].replicas: expected min at most max, got {"min":4,"max":2}'],
        ],
        [
            "credentials for a cluster nobody declared",
            { delivery: GITOPS, clusters: [HOME, REMOTE], clusterCredentials: { "onprem-lyon": TOKEN } },
            ['mlops-platform:clusterCredentials.onprem-lyon: expected the name of a declared cluster (eu-cloud, onprem-paris), got "onprem-lyon"'],
        ],
        [
            "credentials for the cluster Argo CD runs in",
            { delivery: GITOPS, clusters: [HOME, REMOTE], clusterCredentials: { "eu-cloud": TOKEN } },
            [
                'mlops-platform:clusters[0].destination.server: expected the URL of a remote API server (clusterCredentials.eu-cloud registers it with Argo CD), got "https://kubernetes.default.svc"',
            ],
        ],
        [
            "credentials with both a token and an IAM role (the token is not shown)",
            {
                delivery: GITOPS,
                clusters: [HOME, REMOTE],
                clusterCredentials: { "onprem-paris": { ...TOKEN, awsAuth: { clusterName: "paris", roleArn: "arn:aws:iam::123456789012:role/argocd" } } },
            },
            ["mlops-platform:clusterCredentials.onprem-paris: expected exactly one of bearerToken or awsAuth, got both"],
        ],
    ];
    for (const [what, sections, expected] of refused) {
        it(`refuses ${what}, naming the key`, () => {
            assert.deepEqual(problems(sections), expected);
        });
    }

    it("refuses credentials written in plain text, without showing them", () => {
        const lines = problems({ delivery: GITOPS, clusters: [HOME, REMOTE], clusterCredentials: { "onprem-paris": TOKEN } }, []);
        assert.deepEqual(lines, [
            "mlops-platform:clusterCredentials.onprem-paris: expected a secret, set with `pulumi config set --secret --path 'mlops-platform:clusterCredentials.onprem-paris.bearerToken' <token>`, got a plain value (not shown)",
        ]);
        assert.ok(!lines.join("\n").includes(TOKEN.bearerToken));
    });

    it("a stack file's nested secure values make the key a secret, each leaf a placeholder", () => {
        const { values: read, secretKeys } = parseStackFile(
            [
                "config:",
                "  mlops-platform:clusterCredentials:",
                "    onprem-paris:",
                "      bearerToken:",
                "        secure: v1:AAAB",
                "      caData: QUJD",
            ].join("\n"),
            "Pulumi.x.yaml",
        );
        assert.deepEqual(secretKeys, [CREDENTIALS_KEY]);
        assert.deepEqual(JSON.parse(read[CREDENTIALS_KEY] ?? ""), { "onprem-paris": { bearerToken: "[secret]", caData: "QUJD" } });
    });
});
