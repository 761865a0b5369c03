import { createHash } from "node:crypto";
import * as path from "node:path";

/**
 * What an MLflow process of the platform runs, as pure data: the server's command line, the schema
 * migrations, the accepted Host headers, the basic-auth config. The component renders these into its
 * Deployment and Job; the integration test runs the very same commands against a local PostgreSQL.
 */

/** MLflow's default permissions for users without an explicit grant (mlflow/server/auth/permissions.py). */
export type MlflowPermission = "READ" | "USE" | "EDIT" | "MANAGE" | "NO_PERMISSIONS";

export const MLFLOW_PORT = 5000;
/** `mlflow server` reads its `--backend-store-uri` from this variable (click envvar, mlflow/cli/__init__.py). */
export const BACKEND_STORE_URI_ENV = "MLFLOW_BACKEND_STORE_URI";
export const AUTH_CONFIG_DIR = "/etc/mlflow/auth";
export const AUTH_CONFIG_FILE = "basic_auth.ini";
export const HOME_DIR = "/home/mlflow";

/** sha256 of a Secret's data, on the pod template: a changed Secret (a rotated RDS password) rolls the pods. */
export const BACKEND_STORE_CHECKSUM_ANNOTATION = "mlops.dev/backend-store-checksum";
/** The same for the basic-auth config (its database URI, the default permission). */
export const AUTH_CONFIG_CHECKSUM_ANNOTATION = "mlops.dev/auth-config-checksum";
/** Rolls the server when the S3-compatible store's credentials change. */
export const S3_CREDENTIALS_CHECKSUM_ANNOTATION = "mlops.dev/s3-credentials-checksum";
/** sha256 of what the reader Job applies (user, password, program): a change replaces, and so reruns, the Job. */
export const REGISTRY_READER_CHECKSUM_ANNOTATION = "mlops.dev/registry-reader-checksum";

/** The reader Job's program (Python, standard library only); the integration test runs this very file. */
export const REGISTRY_READER_PROGRAM = path.join(__dirname, "registry_reader.py");
export const REGISTRY_READER_PROGRAM_DIR = "/opt/mlflow-registry-reader";
export const REGISTRY_READER_PROGRAM_FILE = "registry_reader.py";

/**
 * Hex sha256 of a Secret's data in a stable key order. Only the digest reaches the pod template; the
 * values hashed are generated passwords and URIs holding them, far too long to guess from it.
 */
export function secretDataChecksum(data: Readonly<Record<string, string>>): string {
    const ordered = Object.keys(data)
        .sort()
        .map((key) => [key, data[key]]);
    return createHash("sha256").update(JSON.stringify(ordered)).digest("hex");
}

/** The flags of one `mlflow server` process, all of them seen working with MLflow 3.17.2. */
export interface MlflowServerCommandSettings {
    /** `s3://…` in the cluster; a local folder (`file:///tmp/artifacts`) in an integration test. */
    readonly artifactsDestination: string;
    readonly allowedHosts: readonly string[];
    readonly port: number;
    readonly workers: number;
    readonly basicAuth: boolean;
    /** @default "0.0.0.0" */
    readonly bindAddress?: string;
}

/**
 * The tracking server's command line. The backend store URI is not on it: `mlflow server` reads it
 * from `MLFLOW_BACKEND_STORE_URI`, which the pod fills from a Secret. To run the very same command
 * locally, set that variable (e.g. `postgresql+psycopg2://postgres@127.0.0.1:5432/mlflow_test`),
 * pass a `file://` folder as `artifactsDestination` and `localhost:*` among `allowedHosts`, and
 * replace `"mlflow"` (the first element) with the venv's `bin/mlflow`. `GET /health` answers
 * whatever the Host header.
 */
export function mlflowServerCommand(settings: MlflowServerCommandSettings): string[] {
    return [
        "mlflow",
        "server",
        "--serve-artifacts",
        "--artifacts-destination",
        settings.artifactsDestination,
        "--host",
        settings.bindAddress ?? "0.0.0.0",
        "--port",
        String(settings.port),
        "--workers",
        String(settings.workers),
        "--allowed-hosts",
        settings.allowedHosts.join(","),
        ...(settings.basicAuth ? ["--app-name", "basic-auth"] : []),
    ];
}

export interface MigrationStep {
    readonly name: string;
    readonly command: string[];
}

/**
 * The schema migrations, in order: the tracking store, then (with basic auth) the auth store, which
 * lives in the same database under its own `alembic_version_auth` table. `mlflow db upgrade` takes
 * the URI only as an argument, so in the pod it is Kubernetes' `$(MLFLOW_BACKEND_STORE_URI)`
 * expansion of the secret-backed variable: the API object never holds the value. A local run passes
 * the URI itself and maps `"mlflow"`/`"python"` to the venv's executables.
 */
export function mlflowMigrationSteps(options: { readonly basicAuth: boolean; readonly backendStoreUri?: string }): MigrationStep[] {
    const uri = options.backendStoreUri ?? `$(${BACKEND_STORE_URI_ENV})`;
    return [
        { name: "tracking-db-upgrade", command: ["mlflow", "db", "upgrade", uri] },
        ...(options.basicAuth ? [{ name: "auth-db-upgrade", command: ["python", "-m", "mlflow.server.auth", "db", "upgrade", "--url", uri] }] : []),
    ];
}

/**
 * Host headers the server accepts (MLflow's DNS-rebinding guard matches them exactly, port included;
 * `/health` and `/version` are exempt, so kubelet probes on `<podIP>:<port>` pass). Listing any
 * replaces MLflow's defaults, so the in-cluster names and `localhost` (port-forward) are added back.
 */
export function mlflowAllowedHosts(options: {
    readonly host: string;
    readonly serviceName: string;
    readonly namespace: string;
    readonly port: number;
    readonly clusterDomain: string;
}): string[] {
    const { host, serviceName, namespace, port, clusterDomain } = options;
    return [
        host,
        `${serviceName}.${namespace}.svc.${clusterDomain}:${port}`,
        `${serviceName}.${namespace}.svc:${port}`,
        `${serviceName}.${namespace}:${port}`,
        `${serviceName}:${port}`,
        "localhost:*",
        "127.0.0.1:*",
    ];
}

/**
 * The migration Job's name carries the image's version, so that an upgrade runs a new Job (a Job
 * runs once; its pod template cannot change) while re-deploying the same version does nothing.
 */
export function migrationJobName(baseName: string, image: string): string {
    const digest = /@sha256:([0-9a-f]{12})/.exec(image)?.[1];
    const tag = /:([^/:@]+)(?:@|$)/.exec(image)?.[1];
    const version =
        digest ??
        (tag ?? "untagged")
            .toLowerCase()
            .replace(/[^a-z0-9]+/g, "-")
            .replace(/^-+|-+$/g, "");
    const jobName = `${baseName}-db-upgrade-${version}`;
    // Job names become a label value: at most 63 characters.
    return jobName.length <= 63 ? jobName : `${baseName}-db-upgrade-${createHash("sha256").update(image).digest("hex").slice(0, 10)}`;
}

/** The basic-auth app's config. configparser interpolates `%`, so a URL-encoded password is escaped. */
export function basicAuthIni(options: { readonly databaseUri: string; readonly defaultPermission: MlflowPermission }): string {
    return ["[mlflow]", `default_permission = ${options.defaultPermission}`, `database_uri = ${options.databaseUri.replace(/%/g, "%%")}`, ""].join("\n");
}
