import { parseInventory, type Inventory } from "../../../src/common/inventory.js";

/**
 * A small inventory whose hosts live on loopback addresses: Linux routes all
 * of 127/8 to this machine, so a test can run an sshd "on" each host and a
 * client can bind its source address to a host's address, which is what
 * Vault's CIDR binding checks.
 */
export function loopbackInventory(name: string, net: string, hosts: { name: string; role: "etcd" | "controlplane" | "worker" | "loadbalancer"; last: number }[]): Inventory {
  return parseInventory({
    name,
    hostDomain: "k8s.test",
    apiVip: `${net}.250`,
    serviceCidr: "10.32.0.0/24",
    podCidr: "10.200.0.0/16",
    leafTtl: "24h",
    hosts: hosts.map((h) => ({ name: h.name, role: h.role, address: `${net}.${h.last}` })),
  });
}
