import type * as k8s from "@pulumi/kubernetes";

/**
 * Pod and container security settings that meet the Kubernetes "restricted" Pod Security Standard.
 * Every workload of the platform uses them; the policy pack checks for exactly these fields.
 */

/** Namespace labels that make the API server enforce the restricted standard on every pod. */
export const RESTRICTED_NAMESPACE_LABELS: Readonly<Record<string, string>> = {
    "pod-security.kubernetes.io/enforce": "restricted",
    "pod-security.kubernetes.io/enforce-version": "latest",
    "pod-security.kubernetes.io/audit": "restricted",
    "pod-security.kubernetes.io/warn": "restricted",
};

/** A non-root user id for images that run as root by default (the MLflow images do). */
export const DEFAULT_UID = 10001;

export function restrictedPodSecurityContext(uid: number = DEFAULT_UID, fsGroup: number = uid): k8s.types.input.core.v1.PodSecurityContext {
    return {
        runAsNonRoot: true,
        runAsUser: uid,
        runAsGroup: uid,
        fsGroup,
        seccompProfile: { type: "RuntimeDefault" },
    };
}

/**
 * @param readOnlyRootFilesystem false only for images that must write outside their mounted volumes.
 */
export function restrictedContainerSecurityContext(readOnlyRootFilesystem = true): k8s.types.input.core.v1.SecurityContext {
    return {
        allowPrivilegeEscalation: false,
        privileged: false,
        runAsNonRoot: true,
        readOnlyRootFilesystem,
        capabilities: { drop: ["ALL"] },
        seccompProfile: { type: "RuntimeDefault" },
    };
}
