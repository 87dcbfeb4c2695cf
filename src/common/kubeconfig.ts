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
  /** The user's credential: the pair itself, or a client-go exec credential plugin that hands it out. */
  certPem?: string;
  keyPem?: string;
  exec?: { command: string; args: string[] };
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
    users: [{ name: k.userName, user: userEntry(k) }],
    contexts: [{ name: context, context: { cluster: k.clusterName, user: k.userName } }],
    "current-context": context,
    preferences: {},
  });
}

function userEntry(k: KubeconfigInput): Record<string, unknown> {
  if (k.exec) {
    // interactiveMode Never: a daemon has no terminal; client-go refuses a v1 exec entry without it.
    return { exec: { apiVersion: "client.authentication.k8s.io/v1", command: k.exec.command, args: k.exec.args, interactiveMode: "Never", provideClusterInfo: false } };
  }
  if (k.certPem === undefined || k.keyPem === undefined) throw new Error("a kubeconfig needs the certificate and key, or an exec plugin");
  return { "client-certificate-data": b64(k.certPem), "client-key-data": b64(k.keyPem) };
}

/** The API endpoint every kubeconfig points at: the virtual IP (or its DNS name) on the API port. */
export function apiServerUrl(inv: Inventory): string {
  const host = inv.apiDnsName ?? (inv.apiVip.includes(":") ? `[${inv.apiVip}]` : inv.apiVip);
  return `https://${host}:${inv.apiPort}`;
}
