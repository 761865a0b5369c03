import type { MonitoringSettings } from "../components/modelServing/monitoring";
import type { Environment } from "./schema";

/**
 * What differs between staging and production when a stack file does not say. Defaults that do
 * not depend on the environment live with the component that applies them (its `…_DEFAULTS`
 * constant and its args' `@default`); the stack leaves those keys unset.
 *
 * Production is built to survive: Multi-AZ, deletion protection, two weeks of backups, a replicated
 * control plane, a bucket that outlives the stack, and real certificates. Staging is lean.
 */
export interface EnvironmentDefaults {
    readonly artifacts: {
        readonly mode: "s3" | "in-cluster";
        readonly retainOnDelete: boolean;
        readonly noncurrentVersionExpirationDays: number;
    };
    readonly postgres: {
        readonly mode: "rds" | "in-cluster";
        readonly instanceClass: string;
        readonly allocatedStorageGb: number;
        readonly multiAz: boolean;
        readonly deletionProtection: boolean;
        readonly backupRetentionDays: number;
    };
    readonly mlflow: {
        readonly replicas: number;
        readonly resources: { readonly cpu: string; readonly memory: string };
        /**
         * MLflow's basic-auth app. On in both environments: the tracking server sits behind a public
         * Ingress with `--serve-artifacts` and a read-write artifact role, so an open one lets anyone who
         * reaches it move aliases and write artifacts. Staging is no exception.
         */
        readonly basicAuth: boolean;
    };
    readonly certManager: { readonly issuer: "letsencrypt" | "letsencrypt-staging" | "self-signed" };
    readonly argocd: { readonly ha: boolean };
    readonly modelReplicas: { readonly min: number; readonly max: number };
    /** How a serving version is watched (the seeds' drift_config), unless its monitoring keys say otherwise. */
    readonly monitoring: MonitoringSettings;
}

export const ENVIRONMENT_DEFAULTS: Readonly<Record<Environment, EnvironmentDefaults>> = {
    staging: {
        artifacts: { mode: "s3", retainOnDelete: false, noncurrentVersionExpirationDays: 14 },
        postgres: {
            mode: "in-cluster",
            instanceClass: "db.t4g.medium",
            allocatedStorageGb: 20,
            multiAz: false,
            deletionProtection: false,
            backupRetentionDays: 7,
        },
        mlflow: { replicas: 1, resources: { cpu: "250m", memory: "1Gi" }, basicAuth: true },
        certManager: { issuer: "letsencrypt-staging" },
        argocd: { ha: false },
        modelReplicas: { min: 1, max: 3 },
        monitoring: { checkInterval: "5m", window: "30m", minSamples: 10, drift: { alert: 0.1, rollback: 0.18 } },
    },
    production: {
        artifacts: { mode: "s3", retainOnDelete: true, noncurrentVersionExpirationDays: 90 },
        postgres: {
            mode: "rds",
            instanceClass: "db.r6g.large",
            allocatedStorageGb: 100,
            multiAz: true,
            deletionProtection: true,
            backupRetentionDays: 14,
        },
        mlflow: { replicas: 2, resources: { cpu: "1", memory: "2Gi" }, basicAuth: true },
        certManager: { issuer: "letsencrypt" },
        argocd: { ha: true },
        modelReplicas: { min: 2, max: 10 },
        // Production also watches its 5xx share: a version that errors is rolled back like one that drifts.
        monitoring: { checkInterval: "5m", window: "1h", minSamples: 10, drift: { alert: 0.1, rollback: 0.18 }, errorRate: { alert: 0.01, rollback: 0.05 } },
    },
};
