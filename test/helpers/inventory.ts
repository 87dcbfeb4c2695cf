import { isIP } from "node:net";
import { InputError } from "../../src/common/errors.js";
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

/**
 * A copy of a real inventory (examples/demo-cluster.yaml) whose hosts keep
 * their last octet on a loopback /24 (10.240.0.11 -> 127.0.240.11), so each
 * host's agent can bind its source address and Vault's CIDR binding stays on
 * (the kubeadm parity test). Parsed again: two hosts sharing a last octet
 * (from different subnets) fail with the field named.
 */
export function inventoryOnLoopback(inv: Inventory, opts: { prefix: string; vaultAddress: string; leafTtlSeconds?: number }): Inventory {
  if (!/^127\.\d{1,3}\.\d{1,3}$/.test(opts.prefix)) throw new InputError(`not the first three octets of a 127/8 address: ${opts.prefix}`);
  const move = (address: string, where: string) => {
    if (isIP(address) !== 4) throw new InputError(`only IPv4 host addresses map onto loopback; ${address} is not IPv4`, { where });
    return `${opts.prefix}.${address.split(".")[3]}`;
  };
  return parseInventory(
    {
      ...inv,
      apiVip: move(inv.apiVip, "apiVip"),
      hosts: inv.hosts.map((h, i) => ({ ...h, address: move(h.address, `hosts[${i}].address`) })),
      leafTtl: opts.leafTtlSeconds ?? inv.leafTtl,
      vault: { addresses: [opts.vaultAddress] },
    },
    "inventory on loopback (derived)",
  );
}

/**
 * A small IPv6 inventory "six": VIP <prefix>10, Vault <prefix>5, etcd1 <prefix>11,
 * cp1 <prefix>21, w1 <prefix>31 and `loadBalancers` of lb1 <prefix>41, lb2 <prefix>42, …
 */
export function ipv6Inventory(prefix: string, o: { hostDomain: string; loadBalancers: number }): Inventory {
  return parseInventory({
    name: "six",
    hostDomain: o.hostDomain,
    apiVip: `${prefix}10`,
    serviceCidr: "fd00:32::/112",
    podCidr: "fd00:200::/56",
    vault: { addresses: [`https://[${prefix}5]:8200`] },
    hosts: [
      { name: "etcd1", role: "etcd", address: `${prefix}11` },
      { name: "cp1", role: "controlplane", address: `${prefix}21` },
      { name: "w1", role: "worker", address: `${prefix}31` },
      ...Array.from({ length: o.loadBalancers }, (_, i) => ({ name: `lb${i + 1}`, role: "loadbalancer" as const, address: `${prefix}${41 + i}` })),
    ],
  });
}
