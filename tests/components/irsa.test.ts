import assert from "node:assert/strict";
import {
    IRSA_AUDIENCE,
    irsaSubjectProblem,
    irsaTrustPolicy,
    namespaceNameProblem,
    oidcIssuerFromProviderArn,
    serviceAccountSubject,
} from "../../components/irsa";

const PROVIDER = "arn:aws:iam::123456789012:oidc-provider/oidc.eks.eu-west-1.amazonaws.com/id/ABC";
const ISSUER = "oidc.eks.eu-west-1.amazonaws.com/id/ABC";

interface TrustPolicy {
    Version: string;
    Statement: { Effect: string; Principal: { Federated: string }; Action: string; Condition: Record<string, Record<string, string | string[]>> }[];
}
const parse = (text: string) => JSON.parse(text) as TrustPolicy;

describe("irsa", () => {
    describe("oidcIssuerFromProviderArn", () => {
        it("strips the ARN down to the issuer host and path", () => {
            assert.equal(oidcIssuerFromProviderArn(PROVIDER), ISSUER);
        });

        it("accepts other partitions and non-EKS issuers", () => {
            assert.equal(
                oidcIssuerFromProviderArn("arn:aws-cn:iam::123456789012:oidc-provider/oidc.eks.cn-north-1.amazonaws.com.cn/id/XYZ"),
                "oidc.eks.cn-north-1.amazonaws.com.cn/id/XYZ",
            );
            assert.equal(oidcIssuerFromProviderArn("arn:aws-us-gov:iam::123456789012:oidc-provider/issuer.example.com"), "issuer.example.com");
        });

        it("rejects anything that is not an OIDC provider ARN", () => {
            for (const bad of [
                "",
                "oidc.eks.eu-west-1.amazonaws.com/id/ABC",
                "arn:aws:iam::123456789012:role/oidc-provider",
                "arn:aws:iam::12345:oidc-provider/oidc.example.com",
            ]) {
                assert.throws(() => oidcIssuerFromProviderArn(bad), {
                    message: `oidcProviderArn must be an IAM OIDC provider ARN such as "arn:aws:iam::123456789012:oidc-provider/oidc.eks.eu-west-1.amazonaws.com/id/EXAMPLE", got ${JSON.stringify(bad)}`,
                });
            }
        });
    });

    describe("irsaTrustPolicy", () => {
        it("trusts one exact service account through the provider, with StringEquals on aud and sub", () => {
            const policy = parse(irsaTrustPolicy(PROVIDER, [{ namespace: "mlflow", name: "mlflow-server" }]));
            assert.equal(policy.Version, "2012-10-17");
            assert.equal(policy.Statement.length, 1);
            assert.deepEqual(policy.Statement[0], {
                Effect: "Allow",
                Principal: { Federated: PROVIDER },
                Action: "sts:AssumeRoleWithWebIdentity",
                Condition: {
                    StringEquals: {
                        [`${ISSUER}:aud`]: "sts.amazonaws.com",
                        [`${ISSUER}:sub`]: "system:serviceaccount:mlflow:mlflow-server",
                    },
                },
            });
        });

        it("trusts a whole namespace with StringLike on sub, and still pins the audience with StringEquals", () => {
            const policy = parse(irsaTrustPolicy(PROVIDER, [{ namespace: "models", name: "*" }]));
            assert.deepEqual(policy.Statement[0]?.Condition, {
                StringEquals: { [`${ISSUER}:aud`]: IRSA_AUDIENCE },
                StringLike: { [`${ISSUER}:sub`]: "system:serviceaccount:models:*" },
            });
        });

        it("lists several subjects once each, and uses StringLike for all of them when one is a wildcard", () => {
            const exact = parse(
                irsaTrustPolicy(PROVIDER, [
                    { namespace: "a", name: "x" },
                    { namespace: "b", name: "y" },
                    { namespace: "a", name: "x" },
                ]),
            );
            assert.deepEqual(exact.Statement[0]?.Condition["StringEquals"]?.[`${ISSUER}:sub`], ["system:serviceaccount:a:x", "system:serviceaccount:b:y"]);
            const mixed = parse(
                irsaTrustPolicy(PROVIDER, [
                    { namespace: "a", name: "x" },
                    { namespace: "models", name: "*" },
                ]),
            );
            assert.deepEqual(mixed.Statement[0]?.Condition["StringLike"]?.[`${ISSUER}:sub`], ["system:serviceaccount:a:x", "system:serviceaccount:models:*"]);
            assert.equal(mixed.Statement[0]?.Condition["StringEquals"]?.[`${ISSUER}:sub`], undefined);
        });

        it("refuses no subjects, bad names and a bad provider ARN", () => {
            assert.throws(() => irsaTrustPolicy(PROVIDER, []), { message: "subjects must name at least one service account, got []" });
            assert.throws(() => irsaTrustPolicy(PROVIDER, [{ namespace: "Models", name: "*" }]), {
                message: 'subjects[0].namespace must be a Kubernetes namespace name (lower-case letters, digits and "-", at most 63 characters), got "Models"',
            });
            assert.throws(
                () =>
                    irsaTrustPolicy(PROVIDER, [
                        { namespace: "mlflow", name: "ok" },
                        { namespace: "models", name: "model-*" },
                    ]),
                {
                    message: 'subjects[1].name must be a service account name or "*" (every service account of the namespace), got "model-*"',
                },
            );
            assert.throws(
                () => irsaTrustPolicy("arn:aws:iam::123456789012:role/x", [{ namespace: "a", name: "b" }]),
                /^Error: oidcProviderArn must be an IAM OIDC provider ARN/,
            );
        });
    });

    describe("name checks", () => {
        it("serviceAccountSubject is the token's sub claim", () => {
            assert.equal(serviceAccountSubject({ namespace: "ns", name: "sa" }), "system:serviceaccount:ns:sa");
        });

        it("namespaceNameProblem accepts DNS labels up to 63 characters and names the path otherwise", () => {
            assert.equal(namespaceNameProblem("models", "x"), undefined);
            assert.equal(namespaceNameProblem("a".repeat(63), "x"), undefined);
            assert.deepEqual(namespaceNameProblem("a".repeat(64), "modelsNamespace"), {
                arg: "modelsNamespace",
                message: `must be a Kubernetes namespace name (lower-case letters, digits and "-", at most 63 characters), got "${"a".repeat(64)}"`,
            });
            assert.match(namespaceNameProblem("-x", "x")?.message ?? "", /got "-x"$/);
        });

        it("irsaSubjectProblem accepts dotted service account names and the namespace wildcard", () => {
            assert.equal(irsaSubjectProblem({ namespace: "mlflow", name: "mlflow.server-1" }, "sa"), undefined);
            assert.equal(irsaSubjectProblem({ namespace: "models", name: "*" }, "sa"), undefined);
            assert.deepEqual(irsaSubjectProblem({ namespace: "*", name: "x" }, "sa"), {
                arg: "sa.namespace",
                message: 'must be a Kubernetes namespace name (lower-case letters, digits and "-", at most 63 characters), got "*"',
            });
        });
    });
});
