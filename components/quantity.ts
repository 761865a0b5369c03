/**
 * Kubernetes resource quantities ("500m", "2Gi", "1.5"), parsed the way the API server reads them,
 * so that a typo such as "2Gix" is refused here rather than by `kubectl apply` at deploy time.
 */

// The grammar of k8s.io/apimachinery/pkg/api/resource: a signed decimal number, then an optional
// binary suffix (Ki…Ei), decimal suffix (n, u, m, k, M…E) or decimal exponent (e3, E-2).
const QUANTITY = /^([+-]?(?:\d+(?:\.\d*)?|\.\d+))(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E|[eE][+-]?\d+)?$/;

const BINARY: Record<string, number> = {
    Ki: 2 ** 10,
    Mi: 2 ** 20,
    Gi: 2 ** 30,
    Ti: 2 ** 40,
    Pi: 2 ** 50,
    Ei: 2 ** 60,
};

const DECIMAL: Record<string, number> = {
    n: 1e-9,
    u: 1e-6,
    m: 1e-3,
    k: 1e3,
    M: 1e6,
    G: 1e9,
    T: 1e12,
    P: 1e15,
    E: 1e18,
};

export function isQuantity(text: string): boolean {
    return QUANTITY.test(text);
}

/** The quantity's value in base units (cores, bytes); `undefined` when the text is not a quantity. */
export function parseQuantity(text: string): number | undefined {
    const match = QUANTITY.exec(text);
    if (!match) return undefined;
    const number = Number(match[1]);
    const suffix = match[2];
    if (suffix === undefined) return number;
    const multiplier = BINARY[suffix] ?? DECIMAL[suffix];
    if (multiplier !== undefined) return number * multiplier;
    return number * 10 ** Number(suffix.slice(1));
}
