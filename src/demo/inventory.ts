import { isIP } from "node:net";
import { stringify } from "yaml";
import { InputError } from "../common/errors.js";
import { parseInventory, type Inventory } from "../common/inventory.js";

/**
 * The demo runs every host of examples/demo-cluster.yaml on this one
 * machine. Their addresses (10.240.0.x) are not here, and Vault binds each
 * host's secret ID and tokens to its address, so the demo derives a copy of
 * the inventory where each host keeps its last octet on a loopback /24
 * (10.240.0.11 -> 127.0.240.11). Linux answers on all of 127/8, each agent
 * binds its source address to its host's, and Vault's CIDR binding stays on.
 */

export interface LocalInventoryOptions {
  /** First three octets of the loopback /24, e.g. "127.0.240". */
  prefix: string;
  /** The local Vault, written as the hosts' Vault address. */
  vaultAddress: string;
  /** Leaf lifetime in seconds (--ttl), else the inventory's. */
  leafTtlSeconds?: number;
}

export function loopbackAddress(prefix: string, address: string, where: string): string {
  if (isIP(address) !== 4) throw new InputError(`the demo maps IPv4 host addresses onto loopback; ${address} is not IPv4`, { where });
  return `${prefix}.${address.split(".")[3]}`;
}

export function localDemoInventory(inv: Inventory, opts: LocalInventoryOptions): Inventory {
  if (!/^127\.\d{1,3}\.\d{1,3}$/.test(opts.prefix)) throw new InputError(`not the first three octets of a 127/8 address: ${opts.prefix}`, { where: "--loopback" });
  const doc = {
    ...inv,
    apiVip: loopbackAddress(opts.prefix, inv.apiVip, "apiVip"),
    hosts: inv.hosts.map((h, i) => ({ ...h, address: loopbackAddress(opts.prefix, h.address, `hosts[${i}].address`) })),
    leafTtl: opts.leafTtlSeconds ?? inv.leafTtl,
    vault: { addresses: [opts.vaultAddress] },
  };
  // Parsed again: two hosts sharing a last octet (from different subnets) fail here with the field named.
  return parseInventory(doc, "demo inventory (derived)");
}

export function inventoryYaml(inv: Inventory, source: string): string {
  const header = [
    `# Derived by \`npm run demo\` from ${source}; rewritten on every run.`,
    "# Host addresses moved onto loopback (same last octet) so each host's agent",
    "# can bind its source address to it and Vault's CIDR binding of secret IDs",
    "# and tokens stays on. Use this file with hak-pki against the demo's Vault.",
    "",
  ].join("\n");
  return header + stringify(inv);
}
