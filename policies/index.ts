import { PolicyPack } from "@pulumi/policy";
import { ALL_POLICIES, POLICY_PACK_NAME } from "./catalog";

// Constructing the pack starts the analyzer's gRPC server: this file is the plugin's entry point
// and nothing else. Enforcement levels and thresholds come from --policy-pack-config
// (config/<stack>.json); run without it, every policy is mandatory, so a forgotten config fails closed.
new PolicyPack(POLICY_PACK_NAME, {
    policies: ALL_POLICIES,
    enforcementLevel: "mandatory",
    description: "mlops-platform: GPU limits and budget, model promotion criteria, and security of the artifact store, database and workloads.",
});
