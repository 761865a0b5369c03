/**
 * IAM Roles for Service Accounts (IRSA): a Kubernetes service account assumes an IAM role with the
 * token the cluster's OIDC issuer signs for it, so that no workload ever holds a static AWS key.
 * Pure helpers, shared by every component that creates such a role.
 */

/** A service account the role trusts; `name: "*"` trusts every service account of the namespace. */
export interface IrsaSubject {
    readonly namespace: string;
    readonly name: string;
}

/** The audience the EKS Pod Identity Webhook requests for projected service account tokens. */
export const IRSA_AUDIENCE = "sts.amazonaws.com";

const OIDC_PROVIDER_ARN = /^arn:aws(?:-[a-z]+)*:iam::\d{12}:oidc-provider\/([A-Za-z0-9.-]+(?::\d+)?(?:\/[A-Za-z0-9._~-]+)*)$/;
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** `system:serviceaccount:<namespace>:<name>`, the `sub` claim of a service account's token. */
export function serviceAccountSubject(subject: IrsaSubject): string {
    return `system:serviceaccount:${subject.namespace}:${subject.name}`;
}

/**
 * The issuer of an IAM OIDC provider, as IAM names it in condition keys (no `https://`):
 * `arn:aws:iam::123456789012:oidc-provider/oidc.eks.eu-west-1.amazonaws.com/id/ABC`
 * → `oidc.eks.eu-west-1.amazonaws.com/id/ABC`.
 */
export function oidcIssuerFromProviderArn(arn: string): string {
    const issuer = OIDC_PROVIDER_ARN.exec(arn)?.[1];
    if (issuer === undefined) {
        throw new Error(
            `oidcProviderArn must be an IAM OIDC provider ARN such as "arn:aws:iam::123456789012:oidc-provider/oidc.eks.eu-west-1.amazonaws.com/id/EXAMPLE", got ${JSON.stringify(arn)}`,
        );
    }
    return issuer;
}

/** What is wrong with a namespace name, naming `path` and the bad value; undefined when it is valid. */
export function namespaceNameProblem(namespace: string, path: string): string | undefined {
    if (DNS_LABEL.test(namespace) && namespace.length <= 63) return undefined;
    return `${path} must be a Kubernetes namespace name (lower-case letters, digits and "-", at most 63 characters), got ${JSON.stringify(namespace)}`;
}

/**
 * What is wrong with a subject, as a message naming `path` and the bad value; undefined when it is
 * valid. Components call it to report their own arg names before any child exists.
 */
export function irsaSubjectProblem(subject: IrsaSubject, path: string): string | undefined {
    const namespaceProblem = namespaceNameProblem(subject.namespace, `${path}.namespace`);
    if (namespaceProblem !== undefined) return namespaceProblem;
    if (subject.name !== "*" && !(DNS_SUBDOMAIN.test(subject.name) && subject.name.length <= 253)) {
        return `${path}.name must be a service account name or "*" (every service account of the namespace), got ${JSON.stringify(subject.name)}`;
    }
    return undefined;
}

/**
 * The trust policy (JSON text) of a role that the given service accounts assume through the
 * cluster's OIDC provider. The audience is always pinned; the subject is matched with
 * `StringEquals` when every subject is one service account, and with `StringLike` as soon as one
 * trusts a whole namespace (`name: "*"`) — exact subjects still match only themselves there,
 * because names cannot contain `*` or `?`.
 */
export function irsaTrustPolicy(oidcProviderArn: string, subjects: readonly IrsaSubject[]): string {
    const issuer = oidcIssuerFromProviderArn(oidcProviderArn);
    if (subjects.length === 0) {
        throw new Error("subjects must name at least one service account, got []");
    }
    subjects.forEach((subject, i) => {
        const problem = irsaSubjectProblem(subject, `subjects[${i}]`);
        if (problem !== undefined) throw new Error(problem);
    });
    const subs = [...new Set(subjects.map(serviceAccountSubject))];
    const wildcard = subjects.some((s) => s.name === "*");
    const subCondition = { [`${issuer}:sub`]: subs.length === 1 ? subs[0] : subs };
    const audCondition = { [`${issuer}:aud`]: IRSA_AUDIENCE };
    return JSON.stringify({
        Version: "2012-10-17",
        Statement: [
            {
                Effect: "Allow",
                Principal: { Federated: oidcProviderArn },
                Action: "sts:AssumeRoleWithWebIdentity",
                Condition: wildcard ? { StringEquals: audCondition, StringLike: subCondition } : { StringEquals: { ...audCondition, ...subCondition } },
            },
        ],
    });
}
