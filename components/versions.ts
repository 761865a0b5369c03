/**
 * The MLflow release the platform runs. The tracking server image, the default model-serving image
 * and the MLflow that the tests run for real (tests/mlflow/requirements.txt) are the same release;
 * a test keeps them in step.
 */
export const MLFLOW_VERSION = "3.17.2";

/**
 * The `-full` variant carries psycopg2 and boto3; the plain image cannot reach Postgres or S3.
 * (Published from MLflow 3.9.0 on: docker/README.md of mlflow/mlflow.)
 */
export const MLFLOW_IMAGE = `ghcr.io/mlflow/mlflow:v${MLFLOW_VERSION}-full`;
