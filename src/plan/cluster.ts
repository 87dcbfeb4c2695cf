import { stringify } from "yaml";
import { hostsWithRole, type Inventory } from "../common/inventory.js";
import { PROFILES } from "../common/profiles.js";
import { resolvePlanOptions, type PlanOptionsInput } from "./options.js";
import { CLUSTER_PLAN_SCHEMA, PLAN_VERSION, type ClusterPlan, type KubeObject } from "./schema.js";

/**
 * What a hak cluster needs once, cluster-wide, that kubeadm would create
 * itself: RBAC objects, applied when the first apiserver answers (with the
 * break-glass identity) by whoever runs the cluster, NixOS or the local one.
 *
 * Not here, because Kubernetes' bootstrap policy has them already:
 * system:kube-controller-manager, system:kube-scheduler, system:node-proxier
 * (bound to the user system:kube-proxy) and the Node authorizer for
 * system:node:<name>. The apiserver's kubelet client carries
 * O=kubeadm:cluster-admins (as in kubeadm ≥ 1.29), so the first binding
 * below also gives it the kubelet API (logs, exec).
 */

const rbac = "rbac.authorization.k8s.io";

/** kubeadm's label (and, as a NoSchedule taint, the kubelet's registerWithTaints) for control-plane nodes. */
export const CONTROL_PLANE_ROLE_LABEL = "node-role.kubernetes.io/control-plane";

function clusterRoleBinding(name: string, role: string, subject: { kind: "Group" | "User"; name: string }, why: string): KubeObject {
  return {
    apiVersion: `${rbac}/v1`,
    kind: "ClusterRoleBinding",
    metadata: { name, annotations: { "hak.dev/why": why } },
    roleRef: { apiGroup: rbac, kind: "ClusterRole", name: role },
    subjects: [{ apiGroup: rbac, ...subject }],
  };
}

export function clusterManifests(): KubeObject[] {
  const admins = PROFILES.admin.organization(undefined)!;
  const coredns = PROFILES.coredns.commonName(undefined);
  return [
    clusterRoleBinding(admins, "cluster-admin", { kind: "Group", name: admins }, "admin.conf and the apiserver's kubelet client (O=kubeadm:cluster-admins): revocable, unlike system:masters"),
    {
      apiVersion: `${rbac}/v1`,
      kind: "ClusterRole",
      metadata: { name: coredns, annotations: { "hak.dev/why": "CoreDNS on the workers reads what it serves, nothing more" } },
      rules: [
        { apiGroups: [""], resources: ["endpoints", "services", "pods", "namespaces"], verbs: ["list", "watch"] },
        { apiGroups: ["discovery.k8s.io"], resources: ["endpointslices"], verbs: ["list", "watch"] },
      ],
    },
    clusterRoleBinding(coredns, coredns, { kind: "User", name: coredns }, "the coredns client certificate's identity"),
  ];
}

export function clusterPlan(inv: Inventory, opts?: PlanOptionsInput): ClusterPlan {
  const o = resolvePlanOptions(inv.plan, opts);
  const nodeLabels = hostsWithRole(inv, "controlplane").map((h) => ({ node: h.name, labels: { [CONTROL_PLANE_ROLE_LABEL]: "" } }));
  return { schema: CLUSTER_PLAN_SCHEMA, version: PLAN_VERSION, cluster: inv.name, kubernetesVersion: o.kubernetesVersion, manifests: clusterManifests(), nodeLabels };
}

/** The manifests as one multi-document YAML stream, for `kubectl apply -f -`. */
export function manifestsYaml(plan: ClusterPlan): string {
  return plan.manifests.map((m) => `---\n${stringify(m)}`).join("");
}
