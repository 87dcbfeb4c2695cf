import { parseInventory, type HostRole, type Inventory, type InventoryInput } from "../../src/common/inventory.js";

const ROLE_BASE: Record<HostRole, number> = { etcd: 11, controlplane: 21, worker: 31, loadbalancer: 41 };

/**
 * A small inventory whose hosts live on 127.0.<net>.x — etcd .11, .12,
 * controlplane .21, worker .31, loadbalancer .41, … — so a test can bind a
 * client to a host's address and Vault's CIDR binding holds on one machine.
 * Each test file takes its own `net`, so files running side by side never
 * share addresses.
 */
export function loopbackInventory(o: {
  name: string;
  net: number;
  hosts: [name: string, role: HostRole][];
  extraHosts?: InventoryInput["hosts"];
  overrides?: Partial<InventoryInput>;
}): Inventory {
  const seen: Record<string, number> = {};
  const hosts = o.hosts.map(([name, role]) => {
    const i = (seen[role] = (seen[role] ?? -1) + 1);
    return { name, role, address: `127.0.${o.net}.${ROLE_BASE[role] + i}` };
  });
  return parseInventory({
    name: o.name,
    hostDomain: "k8s.test",
    apiVip: `127.0.${o.net}.10`,
    serviceCidr: "10.32.0.0/24",
    podCidr: "10.200.0.0/16",
    ...o.overrides,
    hosts: [...hosts, ...(o.extraHosts ?? [])],
  });
}
