import { isPinnedImage, parseImage } from "./names";
import { type ArgProblem, show } from "./validation";

/**
 * Images as a stack names them: `repository:tag`, or `repository:tag@sha256:<digest>` to pin the
 * content. A chart takes an image as `repository` and `tag`; most write `<repository>:<tag>`, so the
 * digest travels in the tag (`v1.2.3@sha256:…`), and the reference the kubelet pulls is the pinned one.
 */

export interface ChartImage {
    readonly repository: string;
    /** The tag, followed by `@sha256:…` when the image is pinned by digest. */
    readonly tag: string;
}

/** `repository` and `tag` (digest included) of an image the component's validation already accepted. */
export function chartImage(image: string): ChartImage {
    const parsed = parseImage(image);
    if (parsed === undefined || parsed.tag === undefined) throw new Error(`${JSON.stringify(image)} is not an image reference with a tag`);
    return { repository: parsed.repository, tag: parsed.digest === undefined ? parsed.tag : `${parsed.tag}@${parsed.digest}` };
}

/** Whether the image names its content (`@sha256:…`). */
export function hasDigest(image: string): boolean {
    return parseImage(image)?.digest !== undefined;
}

/**
 * Problems of a component's `images` arg: each must be a reference with a tag other than `latest`
 * (a chart needs the tag as its `tag` value), optionally followed by a digest.
 */
export function imageProblems(arg: string, images: Readonly<Record<string, string | undefined>> | undefined): ArgProblem[] {
    const problems: ArgProblem[] = [];
    for (const [key, image] of Object.entries(images ?? {})) {
        if (image === undefined) continue;
        if (!isPinnedImage(image) || parseImage(image)?.tag === undefined) {
            problems.push({
                arg: arg === "" ? key : `${arg}.${key}`,
                message: `must be an image with a version tag, optionally pinned by digest ("repository:v1.2.3" or "repository:v1.2.3@sha256:<64 hex>"), got ${show(image)}`,
            });
        }
    }
    return problems;
}

/** The keys that are set: what a caller's `images` puts over a component's defaults. */
export function definedOnly<T extends object>(images: T | undefined): Partial<T> {
    return Object.fromEntries(Object.entries(images ?? {}).filter(([, v]) => v !== undefined)) as Partial<T>;
}
