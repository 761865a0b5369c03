import * as assert from "node:assert/strict";
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { FLAGGER_CHART, FLAGGER_CRD, FLAGGER_MESH_PROVIDERS, flaggerCrds } from "../../components/flagger";

/** The pinned third-party CRD file is exactly upstream's, attributed, and what the component reads. */
describe("Flagger's pinned CRDs (components/flagger/crd.yaml)", () => {
    const bytes = fs.readFileSync(FLAGGER_CRD.file);

    it("is byte for byte upstream's artifacts/flagger/crd.yaml at the chart's tag", () => {
        assert.equal(createHash("sha256").update(bytes).digest("hex"), FLAGGER_CRD.sha256);
        assert.equal(FLAGGER_CRD.sha256, "8d7ad05c2d1d242c0cd4c25c5fb3ad0f75f10706da588aeeb950fe2858134630");
        assert.equal(FLAGGER_CRD.tag, `v${FLAGGER_CHART.version}`);
    });

    it("carries its source, tag, hash and Apache-2.0 licence beside it", () => {
        const dir = path.dirname(FLAGGER_CRD.file);
        const readme = fs.readFileSync(path.join(dir, "README.md"), "utf8");
        assert.match(readme, /fluxcd\/flagger/);
        assert.ok(readme.includes(FLAGGER_CRD.tag) && readme.includes(FLAGGER_CRD.sha256));
        assert.match(fs.readFileSync(path.join(dir, "LICENSE"), "utf8"), /Apache License\s+Version 2\.0/);
    });

    it("defines the Canary, MetricTemplate and AlertProvider kinds, and every mesh provider the component names", () => {
        const crds = flaggerCrds();
        assert.deepEqual(crds.map((c) => c["metadata"].name).sort(), ["alertproviders.flagger.app", "canaries.flagger.app", "metrictemplates.flagger.app"]);
        const canary = crds.find((c) => c["spec"].names.kind === "Canary");
        const providers: string[] = canary?.["spec"].versions[0].schema.openAPIV3Schema.properties.spec.properties.provider.enum;
        for (const provider of FLAGGER_MESH_PROVIDERS) assert.ok(providers.includes(provider), provider);
    });
});
