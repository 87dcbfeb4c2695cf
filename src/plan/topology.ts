import { InputError } from "../common/errors.js";
import type { Host, HostRole, Inventory } from "../common/inventory.js";
import { hostsWithRole } from "../common/inventory.js";
import { nthAddress, parseCidr } from "../common/ip.js";

/**
 * Cluster wiring derived from the inventory: etcd membership, the apiserver
 * backends behind haproxy, keepalived priorities, the deploy order, each
 * node's pod subnet. Pure; the host plan (plan.ts) is built from it, and
 * consumers read the plan rather than this.
 */

export const ETCD_CLIENT_PORT = 2379;
export const ETCD_PEER_PORT = 2380;

/** etcd before the apiservers that need it; load balancers before the workers that reach the API through them. */
export const DEPLOY_ORDER: readonly HostRole[] = ["etcd", "controlplane", "loadbalancer", "worker"];

/** "https://10.0.0.1:2379"; IPv6 addresses in brackets. */
export function hostUrl(scheme: string, address: string, port: number): string {
  return `${scheme}://${address.includes(":") ? `[${address}]` : address}:${port}`;
}

export function etcdPeerUrl(host: Host): string {
  return hostUrl("https", host.address, ETCD_PEER_PORT);
}

export function etcdClientUrl(host: Host): string {
  return hostUrl("https", host.address, ETCD_CLIENT_PORT);
}

/** etcd's --initial-cluster: every member by name, in inventory order. */
export function etcdInitialCluster(inv: Inventory): string {
  return hostsWithRole(inv, "etcd")
    .map((h) => `${h.name}=${etcdPeerUrl(h)}`)
    .join(",");
}

export function etcdClientUrls(inv: Inventory): string[] {
  return hostsWithRole(inv, "etcd").map(etcdClientUrl);
}

/** The API endpoint through the virtual IP. */
export function apiServerUrl(inv: Inventory): string {
  return hostUrl("https", inv.apiVip, inv.apiPort);
}

export interface Backend {
  name: string;
  address: string;
  port: number;
}

export function apiserverBackends(inv: Inventory): Backend[] {
  return hostsWithRole(inv, "controlplane").map((h) => ({ name: h.name, address: h.address, port: inv.apiPort }));
}

export interface VrrpPeer {
  name: string;
  address: string;
  priority: number;
  state: "MASTER" | "BACKUP";
}

/**
 * The first load balancer is MASTER; priorities fall by 10 in host order and
 * never below 1, so the inventory's order is the failover order.
 */
export function keepalivedPeers(inv: Inventory): VrrpPeer[] {
  return hostsWithRole(inv, "loadbalancer").map((h, i) => ({
    name: h.name,
    address: h.address,
    priority: Math.max(1, 200 - 10 * i),
    state: i === 0 ? "MASTER" : "BACKUP",
  }));
}

/** Hosts grouped by role in deploy order (roles without hosts left out). */
export function hostsByDeployOrder(inv: Inventory): { role: HostRole; hosts: Host[] }[] {
  return DEPLOY_ORDER.map((role) => ({ role, hosts: hostsWithRole(inv, role) })).filter((g) => g.hosts.length > 0);
}

/**
 * The API endpoint a component on `host` uses: "local" is the host's own
 * apiserver (controller-manager and scheduler, as kubeadm has them; every
 * component of a control-plane host), "api" the virtual IP for everyone else.
 */
export function apiServerUrlFor(inv: Inventory, host: Host, kind: "local" | "api"): string {
  return kind === "local" || host.role === "controlplane" ? hostUrl("https", host.address, inv.apiPort) : apiServerUrl(inv);
}

/** Hosts that are Kubernetes nodes: control planes (tainted NoSchedule) and workers, in inventory order. */
export function nodeHosts(inv: Inventory): Host[] {
  return inv.hosts.filter((h) => h.role === "controlplane" || h.role === "worker");
}

export function isNode(host: Host): boolean {
  return host.role === "controlplane" || host.role === "worker";
}

/** kubeadm's default node-cidr-mask-size: /24 per node for IPv4, /64 for IPv6. */
export const NODE_CIDR_PREFIX = { 4: 24, 6: 64 } as const;

/**
 * Each node's pod subnet: the n-th /24 (/64) of podCidr for the n-th node in
 * inventory order. Deterministic from the inventory alone, so the CNI config
 * of every node and every other node's routes agree without a controller
 * handing subnets out at registration time.
 */
export function nodePodCidrs(inv: Inventory): Map<string, string> {
  const pod = parseCidr(inv.podCidr);
  if (!pod) throw new InputError(`not a CIDR: ${inv.podCidr}`, { where: "inventory.podCidr" });
  const prefix = Math.max(NODE_CIDR_PREFIX[pod.family], pod.prefix);
  const bits = pod.family === 4 ? 32 : 128;
  const nodes = nodeHosts(inv);
  const available = 2n ** BigInt(prefix - pod.prefix);
  if (BigInt(nodes.length) > available)
    throw new InputError(`${inv.podCidr} holds ${available} node subnets of /${prefix}; the inventory has ${nodes.length} nodes (control planes and workers)`, {
      where: "inventory.podCidr",
      fix: "use a larger podCidr",
    });
  const step = 2n ** BigInt(bits - prefix);
  const out = new Map<string, string>();
  // step * i is a power of two times a small integer: exact as a double.
  nodes.forEach((h, i) => out.set(h.name, `${nthAddress(pod, Number(step * BigInt(i)))}/${prefix}`));
  return out;
}
