import * as aws from "@pulumi/aws";
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import type { PlatformConfig } from "../stacks";

/** What a user needs after `pulumi up`: where things are, and the roles workloads assume. */
export interface PlatformOutputs extends Record<string, unknown> {
    readonly environment: string;
}

/** Composes the platform's components from a stack's validated configuration. */
export function createPlatform(config: PlatformConfig): PlatformOutputs {
    const awsProvider = new aws.Provider("aws", {
        region: config.awsRegion as aws.Region,
        defaultTags: { tags: { "mlops.dev/environment": config.environment, "app.kubernetes.io/part-of": "mlops-platform", "app.kubernetes.io/managed-by": "pulumi" } },
    });
    const cluster = new k8s.Provider("cluster", {
        ...(config.cluster.kubeContext !== undefined && { context: config.cluster.kubeContext }),
        enableServerSideApply: true,
    });
    void awsProvider;
    void cluster;
    void pulumi;
    return { environment: config.environment };
}
