/**
 * The Kubernetes objects a run would create, as manifests: collected from the engine's record of
 * the run (`collect`), validated against real schemas (`validate`, `crdSchemas`), written as YAML
 * for people to read (`write`). Used by the test suite and by the offline preview.
 */
export {
    type FieldPath,
    type KubernetesInventory,
    type KubernetesObject,
    type KubernetesProviderRecord,
    type KubernetesRelease,
    type Manifest,
    type ManifestDelivery,
    type ObjectMetadata,
    kubernetesInventory,
    objectLabel,
    toManifests,
    toReleases,
} from "./manifests/collect";
export { SCHEMAS_DIR_ENV, SchemasFolderMissingError, schemasDir } from "./manifests/crdSchemas";
export { formatPath, type ManifestProblem, validateManifest, validateManifests } from "./manifests/validate";
export { kindRank, manifestFileName, REDACTED, redacted, renderManifest, writeManifests } from "./manifests/write";
