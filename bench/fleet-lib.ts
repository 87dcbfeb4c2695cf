/**
 * Shared pieces of `npm run bench:fleet`: generated inventories of any size,
 * a Vault client that counts its requests, medians. Benchmark code only.
 */
import { parseInventory, type Inventory } from "../src/common/inventory.js";
import type { LocalBao } from "../src/common/localbao.js";
import { VaultClient, type VaultRequestEvent } from "../src/common/vault.js";

/** n hosts: 3 etcd, 3 control-plane, 2 load balancers, the rest workers; addresses in 10.0.0.0/8 (never contacted). */
export function fleetInventory(n: number, name = "fleet"): Inventory {
  const hosts: { name: string; role: string; address: string }[] = [];
  const fixed = [
    ["etcd", 3],
    ["controlplane", 3],
    ["loadbalancer", 2],
  ] as const;
  for (const [role, count] of fixed) for (let i = 1; i <= count && hosts.length < n; i++) hosts.push({ name: `${role}${i}`, role, address: "" });
  for (let i = 1; hosts.length < n; i++) hosts.push({ name: `worker${i}`, role: "worker", address: "" });
  hosts.forEach((h, i) => (h.address = `10.${10 + Math.floor(i / 64516)}.${Math.floor(i / 254) % 254}.${(i % 254) + 1}`));
  return parseInventory({
    name,
    hostDomain: "fleet.local",
    apiVip: "10.9.0.10",
    serviceCidr: "10.32.0.0/24",
    podCidr: "10.200.0.0/16",
    leafTtl: "24h",
    hosts,
  });
}

export interface Counted {
  client: VaultClient;
  requests(): number;
  byPath(): Map<string, number>;
  reset(): void;
}

/** A root client on the server whose requests are counted (by a path pattern with host names folded). */
export function countingClient(bao: LocalBao, opts: { timeoutMs?: number } = {}): Counted {
  let n = 0;
  let kinds = new Map<string, number>();
  const onRequest = (ev: VaultRequestEvent) => {
    n++;
    const k = `${ev.method} ${ev.path.replace(/(etcd|controlplane|loadbalancer|worker)\d+/g, "<host>").replace(/hak-host-<host>/, "<entity>").replace(/[0-9a-f]{8}-[0-9a-f-]{27}/, "<id>")}`;
    kinds.set(k, (kinds.get(k) ?? 0) + 1);
  };
  const client = new VaultClient({ addresses: [bao.address], token: bao.rootToken, tls: { ca: bao.caPem }, timeoutMs: opts.timeoutMs ?? 120_000, onRequest });
  return {
    client,
    requests: () => n,
    byPath: () => kinds,
    reset: () => {
      n = 0;
      kinds = new Map();
    },
  };
}

export const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
export const f = (x: number, d = 1): string => x.toFixed(d);
