import type { Inventory } from "./inventory.js";
import { yaml } from "./lazy-yaml.js";

/**
 * A kubeconfig with the certificates embedded, as kubectl and the Kubernetes
 * components read it. Pure: the caller writes it (0600: it holds a key).
 */

export interface KubeconfigInput {
  clusterName: string;
  server: string;
  caPem: string;
  certPem: string;
  keyPem: string;
  /** User entry name, e.g. "kubernetes-admin" or "system:node:worker1". */
  userName: string;
}

const b64 = (s: string) => Buffer.from(s).toString("base64");

export function renderKubeconfig(k: KubeconfigInput): string {
  const context = `${k.userName}@${k.clusterName}`;
  return yaml().stringify({
    apiVersion: "v1",
    kind: "Config",
    clusters: [{ name: k.clusterName, cluster: { server: k.server, "certificate-authority-data": b64(k.caPem) } }],
    users: [{ name: k.userName, user: { "client-certificate-data": b64(k.certPem), "client-key-data": b64(k.keyPem) } }],
    contexts: [{ name: context, context: { cluster: k.clusterName, user: k.userName } }],
    "current-context": context,
    preferences: {},
  });
}

/** The API endpoint every kubeconfig points at: the virtual IP (or its DNS name) on the API port. */
export function apiServerUrl(inv: Inventory): string {
  const host = inv.apiDnsName ?? (inv.apiVip.includes(":") ? `[${inv.apiVip}]` : inv.apiVip);
  return `https://${host}:${inv.apiPort}`;
}
