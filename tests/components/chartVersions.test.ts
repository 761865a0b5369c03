import * as assert from "node:assert/strict";
import { ARGO_CD_CHART } from "../../components/argoCd";
import { CERT_MANAGER_CHART_VERSION } from "../../components/certManager";
import { FLAGGER_CHART, LOADTESTER_CHART } from "../../components/flagger";

/**
 * Every Helm chart version the program pins, and where it was verified to be published. A chart
 * version bump changes a component constant and fails this test until its entry says where the new
 * version was found (the repository's index.yaml, its entry's digest, the tag).
 */
const PINNED_CHARTS = [
    {
        chart: "argo-cd",
        repo: "https://argoproj.github.io/argo-helm",
        version: "10.1.1",
        verifiedIn:
            "argoproj/argo-helm gh-pages:index.yaml (generated 2026-07-02T19:19:04Z): entries.argo-cd 10.1.1, appVersion v3.4.4, " +
            "digest a677dfa6ca7e9f9a71fe9bf54ea86a9011d5c7db8e137c5171e78c4493af20e5; tag argo-cd-10.1.1 (af0a9310). 9.6.1 was never published.",
    },
    {
        chart: "flagger",
        repo: "https://flagger.app",
        version: "1.44.0",
        verifiedIn:
            "fluxcd/flagger gh-pages:index.yaml (generated 2026-07-21T04:41:07Z): entries.flagger 1.44.0, " +
            "digest bd3279b7436721beaaaaabcf1c347b8cc8f85b258fb239861e3383f49a8f02e5; tag v1.44.0 (15bd6ad5), the newest.",
    },
    {
        chart: "loadtester",
        repo: "https://flagger.app",
        version: "0.38.0",
        verifiedIn:
            "fluxcd/flagger gh-pages:index.yaml (generated 2026-07-21T04:41:07Z): entries.loadtester 0.38.0, " +
            "digest 27d1031943a73e155a3ff55511ec0eddb7640914ae5761df1cae344645dc8d11; charts/loadtester/Chart.yaml at tag v1.44.0.",
    },
    {
        chart: "cert-manager",
        repo: "https://charts.jetstack.io",
        version: "v1.19.6",
        verifiedIn:
            "cert-manager/cert-manager tag v1.19.6 (60b0447c, 2026-06-25), deploy/charts/cert-manager at that tag; cert-manager/website " +
            "content/v1.19-docs/variables.json cert_manager_latest_version v1.19.6. cert-manager publishes every release's chart to " +
            "charts.jetstack.io; that index itself could not be read from here.",
    },
] as const;

describe("pinned Helm chart versions", () => {
    const pinnedByCode = [
        { chart: ARGO_CD_CHART.chart, repo: ARGO_CD_CHART.repo, version: ARGO_CD_CHART.version },
        { chart: FLAGGER_CHART.chart, repo: FLAGGER_CHART.repo, version: FLAGGER_CHART.version },
        { chart: LOADTESTER_CHART.chart, repo: LOADTESTER_CHART.repo, version: LOADTESTER_CHART.version },
        { chart: "cert-manager", repo: "https://charts.jetstack.io", version: CERT_MANAGER_CHART_VERSION },
    ];

    it("are exactly the versions the list says were found published", () => {
        assert.deepEqual(
            pinnedByCode,
            PINNED_CHARTS.map(({ chart, repo, version }) => ({ chart, repo, version })),
        );
    });

    it("each name where it was verified: an index entry with its digest, or the release tag", () => {
        for (const entry of PINNED_CHARTS) {
            assert.match(entry.verifiedIn, /index\.yaml|tag v?\d/, entry.chart);
            assert.ok(entry.verifiedIn.includes(entry.version.replace(/^v/, "")), `${entry.chart}: names ${entry.version}`);
        }
    });
});
