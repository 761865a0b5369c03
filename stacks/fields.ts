import { z } from "zod";
import { showValue } from "./errors";
import { MODEL_NAME } from "../components/modelServing";
import { DNS_NAME, EMAIL, HTTP_URL, isPinnedImage, K8S_NAME, parseImage } from "../components/names";
import { isQuantity, parseQuantity } from "../components/quantity";

/**
 * Field builders for the stack configuration schema. Each one carries the sentence a user reads
 * when the value is wrong ("expected an integer ≥ 20, got "lots""), so that the schema in
 * `schema.ts` reads as a list of keys and what each accepts.
 */

type IssueInput = { readonly input?: unknown };

/** An error function for zod: `expected <what>, got <the user's value>`. */
export function expected(what: string): (issue: IssueInput) => string {
    return (issue) => `expected ${what}, got ${showValue(issue.input)}`;
}

export function integer(min: number, max?: number) {
    const what = max === undefined ? `an integer ≥ ${min}` : `an integer from ${min} to ${max}`;
    const base = z.int({ error: expected(what) }).min(min, { error: expected(what) });
    return max === undefined ? base : base.max(max, { error: expected(what) });
}

export function decimal(min: number, max: number) {
    const what = `a number from ${min} to ${max}`;
    return z
        .number({ error: expected(what) })
        .min(min, { error: expected(what) })
        .max(max, { error: expected(what) });
}

export function bool() {
    return z.boolean({ error: expected("true or false") });
}

/** A string matching `pattern`; `what` says in words what that is. */
export function text(pattern: RegExp, what: string) {
    return z.string({ error: expected(what) }).regex(pattern, { error: expected(what) });
}

export function oneOf<const T extends readonly [string, ...string[]]>(values: T) {
    const what = values.length === 1 ? `"${values[0]}"` : `one of ${values.map((v) => `"${v}"`).join(", ")}`;
    return z.enum(values, { error: expected(what) });
}

/**
 * A mapping with exactly these keys. An unknown key is an error that names the keys it could have
 * been, because a misspelt optional key would otherwise be silently ignored.
 */
export function mapping<const Shape extends z.ZodRawShape>(shape: Shape) {
    const known = Object.keys(shape).join(", ");
    return z.strictObject(shape, {
        error: (issue) => (issue.code === "unrecognized_keys" ? `unknown key; expected one of: ${known}` : expected("a mapping")(issue)),
    });
}

export function list<T extends z.ZodType>(item: T, what: string, minItems = 0) {
    const described = minItems > 0 ? `${what} (at least ${minItems})` : what;
    return z.array(item, { error: expected(described) }).min(minItems, { error: expected(described) });
}

export function dictionary<K extends z.ZodType<string, string>, V extends z.ZodType>(key: K, value: V, what: string) {
    return z.record(key, value, { error: expected(what) });
}

/** A Kubernetes quantity ("500m", "2Gi") greater than zero and, given `max`, at most that (its value in base units and as written). */
export function quantity(what: string, max?: { readonly value: number; readonly text: string }) {
    const described = max === undefined ? what : `${what}, more than 0 and at most ${max.text}`;
    const valid = (q: string) => {
        const value = isQuantity(q) ? parseQuantity(q) : undefined;
        return value !== undefined && value > 0 && (max === undefined || value <= max.value);
    };
    return z.string({ error: expected(described) }).refine(valid, { error: expected(described) });
}

/** An image reference pinned to a tag other than `latest`, or to a digest (`components/names.ts` decides). */
export function pinnedImage(what: string) {
    return z.string({ error: expected(what) }).refine(isPinnedImage, { error: expected(what) });
}

/** An image with a version tag, optionally pinned by digest: what a chart's `repository` and `tag` values can carry. */
export function taggedImage() {
    const what =
        'an image with a version tag, optionally pinned by digest, such as "quay.io/org/app:v1.2.3" or "quay.io/org/app:v1.2.3@sha256:<64 hex digits>"';
    return z.string({ error: expected(what) }).refine((image) => isPinnedImage(image) && parseImage(image)?.tag !== undefined, { error: expected(what) });
}

// Patterns shared by the schema. Names follow what each value is, not where it is used; what a
// component names is judged by the component's own pattern (components/names.ts).
export const PATTERNS = {
    dnsName: DNS_NAME,
    k8sName: K8S_NAME,
    /**
     * A model's key: a DNS-1035 label of at most 40 characters, so that `<model>-primary`,
     * `<model>-canary` and the Deployment's pod names stay within Kubernetes' 63.
     */
    modelName: MODEL_NAME,
    /** A cluster's name: a DNS label short enough that `<model>-<cluster>` and `<stack>-<model>-<cluster>` stay names. */
    clusterName: /^[a-z]([-a-z0-9]{0,18}[a-z0-9])?$/,
    /** A model name in the MLflow registry: it goes into `models:/<name>/<version>`, so no `/`. */
    registeredModel: /^[A-Za-z0-9][A-Za-z0-9_.-]{0,255}$/,
    /** A pinned registry version: MLflow numbers versions 1, 2, 3 … */
    registryVersion: /^[1-9][0-9]{0,9}$/,
    /** An MLflow run id. */
    runId: /^[0-9a-f]{32}$/,
    oidcProviderArn: /^arn:aws[a-z-]*:iam::\d{12}:oidc-provider\/[^\s]+$/,
    vpcId: /^vpc-[0-9a-f]{8,17}$/,
    subnetId: /^subnet-[0-9a-f]{8,17}$/,
    securityGroupId: /^sg-[0-9a-f]{8,17}$/,
    rdsInstanceClass: /^db\.[a-z0-9]+\.[a-z0-9]+$/,
    email: EMAIL,
    httpUrl: HTTP_URL,
    httpsUrl: /^https:\/\/[^\s/$.?#][^\s]*$/,
    gitUrl: /^(https:\/\/|ssh:\/\/|git@)[^\s]+$/,
    /** A Go duration as Flagger reads it: 30s, 1m, 2h. */
    duration: /^[1-9][0-9]*(s|m|h)$/,
    /** A label key or an HTTP header name. */
    labelKey: /^([a-z0-9]([-a-z0-9.]*[a-z0-9])?\/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/,
    labelValue: /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/,
    headerName: /^[A-Za-z0-9][A-Za-z0-9-]*$/,
    /** An extended resource name such as nvidia.com/gpu. */
    resourceName: /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?\/[a-z0-9]([-a-z0-9_.]*[a-z0-9])?$/,
    /** A person or group who approved a promotion (a GitHub login, an e-mail or a team slug). */
    approver: /^[A-Za-z0-9][A-Za-z0-9._@/-]{0,99}$/,
    /** A metric name as MLflow logs it. */
    metricName: /^[A-Za-z0-9_.\-/ ]{1,250}$/,
} as const;
