import { DNS_SUBDOMAIN, K8S_NAME } from "./names";
import { type ArgProblem, describeArgProblem, show } from "./validation";

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
    if (issuer === undefined) throw new Error(describeArgProblem(oidcProviderArnProblem(arn) as ArgProblem));
    return issuer;
}

/** What is wrong with an OIDC provider ARN; undefined when it is one. */
export function oidcProviderArnProblem(arn: string, arg = "oidcProviderArn"): ArgProblem | undefined {
    if (OIDC_PROVIDER_ARN.test(arn)) return undefined;
    return {
        arg,
        message: `must be an IAM OIDC provider ARN such as "arn:aws:iam::123456789012:oidc-provider/oidc.eks.eu-west-1.amazonaws.com/id/EXAMPLE", got ${show(arn)}`,
    };
}

/** What is wrong with a namespace name at `arg`; undefined when it is valid. */
export function namespaceNameProblem(namespace: string, arg: string): ArgProblem | undefined {
    if (K8S_NAME.test(namespace)) return undefined;
    return { arg, message: `must be a Kubernetes namespace name (lower-case letters, digits and "-", at most 63 characters), got ${show(namespace)}` };
}

/** What is wrong with a subject at `arg`; undefined when it is valid. */
export function irsaSubjectProblem(subject: IrsaSubject, arg: string): ArgProblem | undefined {
    const namespaceProblem = namespaceNameProblem(subject.namespace, `${arg}.namespace`);
    if (namespaceProblem !== undefined) return namespaceProblem;
    if (subject.name !== "*" && !DNS_SUBDOMAIN.test(subject.name)) {
        return { arg: `${arg}.name`, message: `must be a service account name or "*" (every service account of the namespace), got ${show(subject.name)}` };
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
        if (problem !== undefined) throw new Error(describeArgProblem(problem));
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
