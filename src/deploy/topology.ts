import type { Host, HostRole, Inventory } from "../common/inventory.js";
import { hostsWithRole } from "../common/inventory.js";

/**
 * Cluster wiring derived from the inventory: etcd membership, the apiserver
 * backends behind haproxy, keepalived priorities and the deploy order. Pure.
 * nix/lib/topology.nix derives the same for the NixOS modules, and
 * test/nix/lib.test.ts checks that both agree.
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
