/**
 * What the names components give to Kubernetes and cloud objects may look like. Every component
 * checks its args against these, and the stack schema (`stacks/fields.ts`) reuses them, so that a
 * name is judged the same way wherever it is written.
 */

/** DNS-1123 label: the name of a Kubernetes object, namespace or IngressClass (at most 63 characters). */
export const K8S_NAME = /^(?=.{1,63}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/** DNS-1123 subdomain: a StorageClass or service account name, or a cluster domain such as "cluster.local". */
export const DNS_SUBDOMAIN = /^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** A public host: a DNS name of at least two labels, lower case. */
export const DNS_NAME = /^(?=.{1,253}$)[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?(\.[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)+$/;

/**
 * The name of a component that prefixes cloud names (S3 buckets: 63 characters, IAM roles: 64, RDS
 * identifiers: 63), so it leaves room for the suffixes the component adds.
 */
export const COMPONENT_NAME = /^(?=.{1,32}$)[a-z][a-z0-9]*(-[a-z0-9]+)*$/;
export const COMPONENT_NAME_MAX = 32;

/** The name of a component that names a Helm release or Kubernetes objects with suffixes (`<name>-backend-store`). */
export const RELEASE_NAME = /^[a-z]([-a-z0-9]{0,38}[a-z0-9])?$/;

/** A chart version as a Helm repository index lists it: exact, never a range. */
export const EXACT_CHART_VERSION = /^v?\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$/;

export const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

/** An http(s) URL. */
export const HTTP_URL = /^https?:\/\/[^\s/$.?#][^\s]*$/;

/** An image reference split into its parts: `repository[:tag][@sha256:digest]`. */
export interface ImageReference {
    readonly repository: string;
    readonly tag?: string;
    readonly digest?: string;
}

const REPOSITORY = /^[a-z0-9]([a-z0-9._-]*[a-z0-9])?(:[0-9]+)?(\/[a-z0-9]([a-z0-9._-]*[a-z0-9])?)*$/;
const TAG = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;
const DIGEST = /^sha256:[0-9a-f]{64}$/;

/** The parts of an image reference; undefined when it is not one. */
export function parseImage(image: string): ImageReference | undefined {
    const [ref = "", digest, ...rest] = image.split("@");
    if (rest.length > 0 || (digest !== undefined && !DIGEST.test(digest))) return undefined;
    // A tag follows the last ":" after the last "/" (a ":" before it is a registry's port).
    const lastSlash = ref.lastIndexOf("/");
    const colon = ref.indexOf(":", lastSlash + 1);
    const repository = colon === -1 ? ref : ref.slice(0, colon);
    const tag = colon === -1 ? undefined : ref.slice(colon + 1);
    if (!REPOSITORY.test(repository) || (tag !== undefined && !TAG.test(tag))) return undefined;
    return { repository, ...(tag !== undefined && { tag }), ...(digest !== undefined && { digest }) };
}

/** True when the image names a digest, or a tag other than `latest`. */
export function isPinnedImage(image: string): boolean {
    const parsed = parseImage(image);
    return parsed !== undefined && (parsed.digest !== undefined || (parsed.tag !== undefined && parsed.tag !== "latest"));
}
