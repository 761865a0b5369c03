import type { Policies } from "@pulumi/policy";
import { gpuBudgetPerCluster } from "./clusterGpu";
import { accessPolicies } from "./access";
import { gpuPolicies } from "./gpu";
import { promotionPolicies } from "./promotion";
import { securityPolicies } from "./security";

/** The pack's name: what `pulumi preview --policy-pack` reports violations under. */
export const POLICY_PACK_NAME = "mlops-platform-policies";

/** Every policy of the pack, by domain. Tests and tools read this list; only index.ts serves it. */
export const ALL_POLICIES: Policies = [...gpuPolicies, gpuBudgetPerCluster, ...promotionPolicies, ...securityPolicies, ...accessPolicies];
