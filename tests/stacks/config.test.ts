import * as assert from "node:assert/strict";
import { FLAGGER_DEFAULTS } from "../../components/flagger";
import { DEFAULT_INGRESS_CLASS } from "../../components/ingress";
import { gpuPlacement } from "../../infra/componentArgs";
import { platformConfigProblems } from "../../infra/validation";
import { ConfigError, ENVIRONMENT_DEFAULTS, inClusterNamespace, parsePlatformConfig, type PlatformConfig } from "../../stacks";

const CLUSTER = {
    oidcProviderArn: "arn:aws:iam::123456789012:oidc-provider/oidc.eks.eu-west-1.amazonaws.com/id/ABC",
    domain: "ml.example.com",
};
const RDS_NETWORK = {
    vpcId: "vpc-0a1b2c3d4e5f60718",
    privateSubnetIds: ["subnet-0a1b2c3d4e5f60001", "subnet-0a1b2c3d4e5f60002"],
    nodeSecurityGroupId: "sg-0a1b2c3d4e5f60719",
};
const MODEL = { registeredModel: "fraud_detector", version: "7", resources: { cpu: "1", memory: "2Gi" } };

/** Config values as `PULUMI_CONFIG` carries them: the given sections as JSON text. */
function values(environment: string, sections: Record<string, unknown> = {}): Record<string, string> {
    const out: Record<string, string> = { "aws:region": "eu-west-1", "mlops-platform:environment": environment };
    const all: Record<string, unknown> = {
        cluster: environment === "production" ? { ...CLUSTER, ...RDS_NETWORK } : CLUSTER,
        certManager: { acmeEmail: "ops@example.com" },
        ...sections,
    };
    for (const [key, value] of Object.entries(all)) {
        if (value !== undefined) out[`mlops-platform:${key}`] = typeof value === "string" ? value : JSON.stringify(value);
    }
    return out;
}

function parse(environment: string, sections: Record<string, unknown> = {}): PlatformConfig {
    return parsePlatformConfig(values(environment, sections), environment);
}

/** The problem lines of an invalid config, as `path: message`. */
function problems(config: Record<string, string>): string[] {
    // The program's whole validation: the stack schema's rules and every component's.
    return platformConfigProblems(config, "test").problems.map((p) => `${p.path}: ${p.message}`);
}

describe("stack configuration: per-environment defaults", () => {
    for (const environment of ["staging", "production"] as const) {
        const defaults = ENVIRONMENT_DEFAULTS[environment];
        describe(environment, () => {
            const config = parse(environment, { models: { "fraud-detector": MODEL } });

            it(`postgres.mode defaults to "${defaults.postgres.mode}"`, () => {
                assert.equal(config.postgres.mode, defaults.postgres.mode);
            });
            it(`postgres.allocatedStorageGb defaults to ${defaults.postgres.allocatedStorageGb}`, () => {
                assert.equal(config.postgres.allocatedStorageGb, defaults.postgres.allocatedStorageGb);
            });
            it(`artifacts.retainOnDelete defaults to ${defaults.artifacts.retainOnDelete}`, () => {
                assert.equal(config.artifacts.mode === "s3" && config.artifacts.retainOnDelete, defaults.artifacts.retainOnDelete);
            });
            it(`artifacts.noncurrentVersionExpirationDays defaults to ${defaults.artifacts.noncurrentVersionExpirationDays}`, () => {
                assert.equal(
                    config.artifacts.mode === "s3" && config.artifacts.noncurrentVersionExpirationDays,
                    defaults.artifacts.noncurrentVersionExpirationDays,
                );
            });
            it(`mlflow.replicas defaults to ${defaults.mlflow.replicas} and resources to ${JSON.stringify(defaults.mlflow.resources)}`, () => {
                assert.equal(config.mlflow.replicas, defaults.mlflow.replicas);
                assert.deepEqual(config.mlflow.resources, defaults.mlflow.resources);
            });
            it(`certManager.issuer defaults to "${defaults.certManager.issuer}"`, () => {
                assert.equal(config.certManager.issuer, defaults.certManager.issuer);
            });
            it(`argocd.ha defaults to ${defaults.argocd.ha}`, () => {
                assert.equal(config.argocd.ha, defaults.argocd.ha);
            });
            it(`a model's replicas default to ${JSON.stringify(defaults.modelReplicas)}`, () => {
                assert.deepEqual(config.models[0]?.replicas, defaults.modelReplicas);
            });
        });
    }

    it("production's RDS gets Multi-AZ, deletion protection, two weeks of backups and a larger class", () => {
        const { postgres } = parse("production");
        assert.equal(postgres.mode, "rds");
        if (postgres.mode !== "rds") return;
        assert.equal(postgres.multiAz, true);
        assert.equal(postgres.deletionProtection, true);
        assert.equal(postgres.backupRetentionDays, 14);
        assert.equal(postgres.instanceClass, "db.r6g.large");
        assert.deepEqual(postgres.network, RDS_NETWORK);
    });

    it("staging's RDS, when asked for, is single-AZ, unprotected, with a week of backups", () => {
        const { postgres } = parsePlatformConfig(values("staging", { cluster: { ...CLUSTER, ...RDS_NETWORK }, postgres: { mode: "rds" } }), "staging");
        assert.equal(postgres.mode, "rds");
        if (postgres.mode !== "rds") return;
        assert.deepEqual(
            {
                multiAz: postgres.multiAz,
                deletionProtection: postgres.deletionProtection,
                backupRetentionDays: postgres.backupRetentionDays,
                instanceClass: postgres.instanceClass,
            },
            { multiAz: false, deletionProtection: false, backupRetentionDays: 7, instanceClass: "db.t4g.medium" },
        );
    });

    it("hosts default to mlflow.<domain> and argocd.<domain>", () => {
        const config = parse("staging");
        assert.equal(config.mlflow.host, "mlflow.ml.example.com");
        assert.equal(config.argocd.host, "argocd.ml.example.com");
    });

    it("the ingress class and mesh provider are left to the components (nginx), delivery defaults to direct", () => {
        const config = parse("staging");
        assert.equal(config.cluster.ingressClass, undefined);
        assert.equal(config.flagger.meshProvider, undefined);
        assert.equal(DEFAULT_INGRESS_CLASS, "nginx");
        assert.equal(FLAGGER_DEFAULTS.meshProvider, "nginx");
        assert.deepEqual(config.delivery, { mode: "direct" });
    });

    it("reads Prometheus's namespace from an in-cluster metrics server, or takes it as given", () => {
        assert.equal(parse("staging").prometheus.namespace, undefined);
        assert.equal(
            parse("staging", { flagger: { metricsServer: "http://prometheus-operated.monitoring.svc.cluster.local:9090" } }).prometheus.namespace,
            "monitoring",
        );
        assert.equal(
            parse("staging", { flagger: { metricsServer: "http://prom.obs.svc:9090" }, prometheus: { namespace: "metrics" } }).prometheus.namespace,
            "metrics",
        );
        assert.equal(inClusterNamespace("https://prometheus.example.com"), undefined);
    });

    it("asks for prometheus.namespace when the metrics server is not an in-cluster address", () => {
        assert.deepEqual(problems(values("staging", { flagger: { metricsServer: "https://prometheus.example.com" } })), [
            'mlops-platform:prometheus.namespace: expected the namespace of the Prometheus pods (required when flagger.metricsServer "https://prometheus.example.com" is not an in-cluster address http://<service>.<namespace>.svc…: NetworkPolicies admit scrapes from that namespace only), got nothing',
        ]);
    });

    it("turns MLflow authentication on in both environments unless the stack switches it off", () => {
        assert.equal(parse("staging").mlflow.basicAuth, true);
        assert.equal(parse("production").mlflow.basicAuth, true);
        assert.equal(parse("staging", { mlflow: { basicAuth: false } }).mlflow.basicAuth, false);
    });

    it("a user's value wins over the environment's default", () => {
        const config = parse("production", { postgres: { multiAz: false, backupRetentionDays: 30 }, argocd: { ha: false }, mlflow: { replicas: 5 } });
        assert.equal(config.postgres.mode === "rds" && config.postgres.multiAz, false);
        assert.equal(config.postgres.mode === "rds" && config.postgres.backupRetentionDays, 30);
        assert.equal(config.argocd.ha, false);
        assert.equal(config.mlflow.replicas, 5);
    });

    it("GPU placement defaults to NVIDIA's resource, the GPU operator's node label and a toleration of the GPU taint", () => {
        assert.deepEqual(parse("staging").gpu, {});
        assert.deepEqual(gpuPlacement(parse("staging").gpu), {
            resourceName: "nvidia.com/gpu",
            nodeSelector: { "nvidia.com/gpu.present": "true" },
            tolerations: [{ key: "nvidia.com/gpu", operator: "Exists", effect: "NoSchedule" }],
        });
        const own = gpuPlacement(parse("staging", { gpu: { nodeSelector: { pool: "a100" } } }).gpu);
        assert.deepEqual(own.nodeSelector, { pool: "a100" });
        assert.equal(own.resourceName, "nvidia.com/gpu");
    });

    it("models come out sorted by name, each carrying its key as name", () => {
        const config = parse("staging", { models: { zeta: MODEL, alpha: { ...MODEL, version: "3" } } });
        assert.deepEqual(
            config.models.map((m) => [m.name, m.version]),
            [
                ["alpha", "3"],
                ["zeta", "7"],
            ],
        );
    });

    it("gitops delivery keeps its repository settings", () => {
        const config = parse("staging", { delivery: { mode: "gitops", repoUrl: "https://github.com/acme/ml.git", path: "deploy" } });
        assert.deepEqual(config.delivery, { mode: "gitops", repoUrl: "https://github.com/acme/ml.git", path: "deploy" });
    });
});

describe("stack configuration: error messages", () => {
    const cases: Array<[string, Record<string, string>, string[]]> = [
        ["an unknown environment", values("prod"), ['mlops-platform:environment: expected one of "staging", "production", got "prod"']],
        [
            "a missing region",
            (() => {
                const v = values("staging");
                delete v["aws:region"];
                return v;
            })(),
            ['aws:region: expected an AWS region such as "eu-west-1" (required when artifacts.mode is "s3"), got nothing'],
        ],
        [
            "a missing cluster",
            (() => {
                const v = values("staging");
                delete v["mlops-platform:cluster"];
                return v;
            })(),
            ["mlops-platform:cluster: expected a mapping, got nothing"],
        ],
        ["a cluster that is not a mapping", values("staging", { cluster: "eks-prod" }), ['mlops-platform:cluster: expected a mapping, got "eks-prod"']],
        [
            "storage that is not a number",
            values("staging", { postgres: { allocatedStorageGb: "lots" } }),
            ['mlops-platform:postgres.allocatedStorageGb: expected an integer from 20 to 65536, got "lots"'],
        ],
        [
            "storage below the minimum",
            values("staging", { postgres: { allocatedStorageGb: 5 } }),
            ["mlops-platform:postgres.allocatedStorageGb: expected an integer from 20 to 65536, got 5"],
        ],
        [
            "a misspelt key",
            values("staging", { postgres: { instanceClas: "db.t4g.medium" } }),
            [
                "mlops-platform:postgres.instanceClas: unknown key; expected one of: mode, instanceClass, allocatedStorageGb, multiAz, deletionProtection, backupRetentionDays, storageClass",
            ],
        ],
        [
            "an unknown section",
            { ...values("staging"), "mlops-platform:databse": "{}" },
            [
                "mlops-platform:databse: unknown key; expected one of: environment, cluster, artifacts, postgres, mlflow, certManager, argocd, flagger, gpu, prometheus, delivery, clusters, clusterCredentials, images, credentials, models",
            ],
        ],
        [
            "a malformed memory quantity",
            values("staging", { models: { m: { ...MODEL, resources: { cpu: "1", memory: "2Gix" } } } }),
            ['mlops-platform:models.m.resources.memory: expected a memory quantity such as "512Mi" or "2Gi", more than 0 and at most "32Ti", got "2Gix"'],
        ],
        [
            "a zero CPU quantity",
            values("staging", { models: { m: { ...MODEL, resources: { cpu: "0", memory: "1Gi" } } } }),
            ['mlops-platform:models.m.resources.cpu: expected a CPU quantity such as "500m" or "2", more than 0 and at most "1024" (cores), got "0"'],
        ],
        [
            "an unpinned version",
            values("staging", { models: { m: { ...MODEL, version: "latest" } } }),
            ['mlops-platform:models.m.version: expected a pinned registry version such as "7" (never "latest" or an alias), got "latest"'],
        ],
        [
            "an alias as version",
            values("staging", { models: { m: { ...MODEL, version: "@champion" } } }),
            ['mlops-platform:models.m.version: expected a pinned registry version such as "7" (never "latest" or an alias), got "@champion"'],
        ],
        [
            "a version written as a YAML number",
            values("staging", { models: { m: { ...MODEL, version: 7 } } }),
            ['mlops-platform:models.m.version: expected a pinned registry version such as "7" (never "latest" or an alias), got 7'],
        ],
        [
            "a model name with capitals",
            values("staging", { models: { FraudDetector: MODEL } }),
            [
                'mlops-platform:models.FraudDetector: expected a model name: lower-case letters, digits and -, starting with a letter, at most 40 characters, got "FraudDetector"',
            ],
        ],
        [
            "a missing registered model",
            values("staging", { models: { m: { version: "7", resources: { cpu: "1", memory: "1Gi" } } } }),
            ["mlops-platform:models.m.registeredModel: expected a registered model name (letters, digits, _ . -), got nothing"],
        ],
        [
            "step weights out of order",
            values("staging", { models: { m: { ...MODEL, canary: { stepWeights: [1, 25, 5] } } } }),
            ["mlops-platform:models.m.canary.stepWeights[2]: must be more than the step before (25): weights ascend, got [1,25,5]"],
        ],
        [
            "a step weight above 100",
            values("staging", { models: { m: { ...MODEL, canary: { stepWeights: [10, 150] } } } }),
            ["mlops-platform:models.m.canary.stepWeights[1]: expected an integer from 1 to 100, got 150"],
        ],
        [
            "no step weights at all",
            values("staging", { models: { m: { ...MODEL, canary: { stepWeights: [] } } } }),
            ["mlops-platform:models.m.canary.stepWeights: expected a list of traffic weights in percent (at least 1), got []"],
        ],
        [
            "replicas.max below replicas.min",
            values("staging", { models: { m: { ...MODEL, replicas: { min: 4, max: 2 } } } }),
            ["mlops-platform:models.m.replicas.max: must be at least the minimum (4), got 2"],
        ],
        [
            "a CPU limit below the request",
            values("staging", { models: { m: { ...MODEL, resources: { cpu: "2", memory: "1Gi", cpuLimit: "500m" } } } }),
            ['mlops-platform:models.m.resources.cpuLimit: must be at least the CPU request (2), got "500m"'],
        ],
        [
            "A/B testing together with step weights",
            values("staging", { models: { m: { ...MODEL, canary: { stepWeights: [10], abTesting: { iterations: 10 } } } } }),
            [
                "mlops-platform:models.m.canary.stepWeights: cannot be combined with abTesting, which routes by header instead of shifting weights: remove one, got [10]",
            ],
        ],
        [
            "mirroring on nginx",
            values("staging", { models: { m: { ...MODEL, canary: { mirror: true } } } }),
            ['mlops-platform:models.m.canary.mirror: needs a provider that mirrors traffic ("istio"), and this one is "nginx", got true'],
        ],
        [
            "an acceptance request that is not JSON",
            values("staging", { models: { m: { ...MODEL, canary: { acceptanceRequest: "inputs=1" } } } }),
            ['mlops-platform:models.m.canary.acceptanceRequest: expected a JSON object for /invocations, got "inputs=1"'],
        ],
        [
            "a bad run id in the evidence",
            values("staging", {
                models: { m: { ...MODEL, promotion: { evidence: { runId: "run-1", metrics: { accuracy: 0.9 }, validatedIn: "staging" }, approvedBy: ["a"] } } },
            }),
            ['mlops-platform:models.m.promotion.evidence.runId: expected an MLflow run id (32 hexadecimal characters), got "run-1"'],
        ],
        [
            "a metric that is not a number",
            values("staging", {
                models: {
                    m: {
                        ...MODEL,
                        promotion: {
                            evidence: { runId: "3f2a9c4e8b7d41f09a6c5e2d1b0f8a73", metrics: { accuracy: "high" }, validatedIn: "staging" },
                            approvedBy: [],
                        },
                    },
                },
            }),
            ['mlops-platform:models.m.promotion.evidence.metrics.accuracy: expected a number, got "high"'],
        ],
        [
            "rds without its network",
            values("staging", { postgres: { mode: "rds" } }),
            [
                'mlops-platform:cluster.vpcId: expected a VPC id such as "vpc-0a1b2c3d" (required when postgres.mode is "rds"), got nothing',
                'mlops-platform:cluster.privateSubnetIds: expected a list of at least two private subnet ids (required when postgres.mode is "rds"), got nothing',
                'mlops-platform:cluster.nodeSecurityGroupId: expected a security group id such as "sg-0a1b2c3d" (required when postgres.mode is "rds"), got nothing',
            ],
        ],
        [
            "one private subnet",
            values("production", { cluster: { ...CLUSTER, ...RDS_NETWORK, privateSubnetIds: ["subnet-0a1b2c3d4e5f60001"] } }),
            ['mlops-platform:cluster.privateSubnetIds: expected a list of private subnet ids (at least 2), got ["subnet-0a1b2c3d4e5f60001"]'],
        ],
        [
            "an RDS-only key in-cluster",
            values("staging", { postgres: { mode: "in-cluster", multiAz: true } }),
            ['mlops-platform:postgres.multiAz: applies only when postgres.mode is "rds", got true'],
        ],
        [
            "a storage class with rds",
            values("production", { postgres: { storageClass: "gp3" } }),
            ['mlops-platform:postgres.storageClass: applies only when postgres.mode is "in-cluster", got "gp3"'],
        ],
        [
            "a Let's Encrypt issuer without an e-mail",
            values("production", { certManager: { issuer: "letsencrypt" } }),
            ['mlops-platform:certManager.acmeEmail: is required by the "letsencrypt" issuer, got nothing'],
        ],
        [
            "gitops without a repository",
            values("staging", { delivery: { mode: "gitops" } }),
            ['mlops-platform:delivery.repoUrl: expected a git URL (required when delivery.mode is "gitops"), got nothing'],
        ],
        [
            "a malformed OIDC provider ARN",
            values("staging", { cluster: { ...CLUSTER, oidcProviderArn: "arn:aws:iam::12:role/x" } }),
            [`mlops-platform:cluster.oidcProviderArn: expected the ARN of the cluster's IAM OIDC provider, got "arn:aws:iam::12:role/x"`],
        ],
        [
            "structured JSON that does not parse",
            { ...values("staging"), "mlops-platform:postgres": "{mode: rds" },
            ['mlops-platform:postgres: expected a mapping, got "{mode: rds"'],
        ],
    ];

    for (const [what, config, expected] of cases) {
        it(`${what} is reported with its key path and value`, () => {
            assert.deepEqual(problems(config), expected);
        });
    }

    it("reports every problem at once, across sections and models", () => {
        const config = values("staging", {
            postgres: { allocatedStorageGb: "lots" },
            mlflow: { replicas: 0 },
            models: { a: { ...MODEL, version: "latest" }, b: { ...MODEL, canary: { stepWeights: [5, 1] } } },
        });
        assert.deepEqual(problems(config), [
            'mlops-platform:postgres.allocatedStorageGb: expected an integer from 20 to 65536, got "lots"',
            "mlops-platform:mlflow.replicas: expected an integer from 1 to 20, got 0",
            'mlops-platform:models.a.version: expected a pinned registry version such as "7" (never "latest" or an alias), got "latest"',
            "mlops-platform:models.b.canary.stepWeights[1]: must be more than the step before (5): weights ascend, got [5,1]",
        ]);
    });

    it("judges no component while the environment, which selects every default, is unknown", () => {
        const config = values("prod", { models: { b: { ...MODEL, canary: { stepWeights: [5, 1] } } } });
        assert.deepEqual(problems(config), ['mlops-platform:environment: expected one of "staging", "production", got "prod"']);
    });

    it("a bad model does not hide another model's cross-key problem", () => {
        const config = values("staging", { models: { a: { ...MODEL, version: "latest" }, b: { ...MODEL, canary: { stepWeights: [5, 1] } } } });
        assert.deepEqual(problems(config), [
            'mlops-platform:models.a.version: expected a pinned registry version such as "7" (never "latest" or an alias), got "latest"',
            "mlops-platform:models.b.canary.stepWeights[1]: must be more than the step before (5): weights ascend, got [5,1]",
        ]);
    });

    it("parsePlatformConfig throws one ConfigError that lists each problem on its own line", () => {
        assert.throws(
            () => parsePlatformConfig(values("staging", { postgres: { allocatedStorageGb: 5 }, mlflow: { replicas: 0 } }), "staging"),
            (err: unknown) => {
                assert.ok(err instanceof ConfigError);
                assert.equal(
                    err.message,
                    'stack "staging" configuration has 2 problems:\n' +
                        "  - mlops-platform:postgres.allocatedStorageGb: expected an integer from 20 to 65536, got 5\n" +
                        "  - mlops-platform:mlflow.replicas: expected an integer from 1 to 20, got 0",
                );
                return true;
            },
        );
    });

    describe("a stack without a cloud account (artifacts and database in the cluster, no charts)", () => {
        const local = (more: Record<string, unknown> = {}) => {
            const config = values("staging", {
                cluster: { domain: "ml.localhost" },
                artifacts: { mode: "in-cluster" },
                certManager: { enabled: false },
                ...more,
            });
            delete config["aws:region"];
            return config;
        };

        it("needs no AWS region, no OIDC provider and no ACME e-mail", () => {
            assert.deepEqual(problems(local()), []);
            const config = platformConfigProblems(local(), "local").config;
            assert.equal(config?.awsRegion, undefined);
            assert.deepEqual(config?.artifacts, { mode: "in-cluster" });
            assert.equal(config?.certManager.enabled, false);
        });

        it("refuses what only AWS S3, RDS or cert-manager would use", () => {
            assert.deepEqual(problems(local({ artifacts: { mode: "in-cluster", retainOnDelete: true } })), [
                'mlops-platform:artifacts.retainOnDelete: applies only when artifacts.mode is "s3", got true',
            ]);
            assert.deepEqual(problems(local({ certManager: { enabled: false, issuer: "self-signed" } })), [
                'mlops-platform:certManager.issuer: applies only when certManager.enabled is true, got "self-signed"',
            ]);
            assert.deepEqual(problems(local({ postgres: { mode: "rds" }, cluster: { domain: "ml.localhost", ...RDS_NETWORK } })), [
                'aws:region: expected an AWS region such as "eu-west-1" (required when postgres.mode is "rds"), got nothing',
            ]);
        });

        it("refuses in-cluster store keys with S3, and S3 without the cluster's OIDC provider", () => {
            assert.deepEqual(problems(values("staging", { artifacts: { storageGb: 5 } })), [
                'mlops-platform:artifacts.storageGb: applies only when artifacts.mode is "in-cluster", got 5',
            ]);
            assert.deepEqual(problems(values("staging", { cluster: { domain: "ml.example.com" } })), [
                'mlops-platform:cluster.oidcProviderArn: expected the ARN of the cluster\'s IAM OIDC provider (required when artifacts.mode is "s3"), got nothing',
            ]);
        });

        it("refuses gitops delivery without Argo CD", () => {
            assert.deepEqual(
                problems(local({ argocd: { enabled: false }, delivery: { mode: "gitops", repoUrl: "https://github.com/example-org/models.git" } })),
                ['mlops-platform:delivery.mode: expected "direct" while argocd.enabled is false (gitops delivery needs Argo CD), got "gitops"'],
            );
        });
    });

    describe("credentials a team provides", () => {
        const withCredentials = (credentials: Record<string, unknown>) => values("staging", { artifacts: { mode: "in-cluster" }, credentials });
        const password = "A1b2C3d4E5f6G7h8I9j0";

        it("are taken when they are config secrets, and refused, unshown, when written in plain text", () => {
            const config = withCredentials({ postgresPassword: password });
            assert.deepEqual(platformConfigProblems(config, "test", ["mlops-platform:credentials"]).problems, []);
            assert.deepEqual(
                platformConfigProblems(config, "test", []).problems.map((p) => `${p.path}: ${p.message}`),
                [
                    "mlops-platform:credentials.postgresPassword: expected a secret, set with `pulumi config set --secret --path 'mlops-platform:credentials.postgresPassword' <value>`, got a plain value (not shown)",
                ],
            );
        });

        it("never repeat a bad value in the error", () => {
            const lines = problems(withCredentials({ mlflowAdminPassword: "hunter2" }));
            assert.deepEqual(lines, [
                "mlops-platform:credentials.mlflowAdminPassword: expected a password of at least 16 letters and digits, got a value of 7 characters (not shown)",
            ]);
            assert.ok(!lines.join("").includes("hunter2"));
        });

        it("come in pairs for the object store, and only where they are used", () => {
            assert.deepEqual(problems(withCredentials({ objectStoreAccessKeyId: password })), [
                "mlops-platform:credentials.objectStoreSecretAccessKey: expected it together with the other object store credential, got nothing",
            ]);
            assert.deepEqual(problems(values("staging", { credentials: { objectStoreAccessKeyId: password, objectStoreSecretAccessKey: password } })), [
                'mlops-platform:credentials.objectStoreAccessKeyId: applies only when artifacts.mode is "in-cluster", got a value (not shown)',
                'mlops-platform:credentials.objectStoreSecretAccessKey: applies only when artifacts.mode is "in-cluster", got a value (not shown)',
            ]);
        });
    });

    it("keys of other namespaces (aws:, kubernetes:) are left to their providers", () => {
        assert.deepEqual(problems({ ...values("staging"), "aws:profile": "ml", "kubernetes:context": "eks" }), []);
    });
});
