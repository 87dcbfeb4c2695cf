import { isIP } from "node:net";
import type { HostRole, Inventory } from "../common/inventory.js";
import { hostsWithRole } from "../common/inventory.js";

/**
 * `hak-deploy check --ha`: the single points of failure an inventory's
 * cluster still has, as warnings. Pure: the inventory in, findings out. The
 * seed's goal is that no single service or machine failure leaves the
 * cluster non-functional; each finding names a failure that would.
 */

export interface HaFinding {
  /** What the finding is about: a role, or "vault". */
  subject: HostRole | "vault";
  /** Where in the inventory to change it. */
  where: string;
  message: string;
  fix: string;
}

/** The network a single switch or router failure takes down at once: an IPv4 /24, an IPv6 /64. */
export function addressRange(address: string): string | undefined {
  const v = isIP(address);
  if (v === 4) return `${address.split(".").slice(0, 3).join(".")}.0/24`;
  if (v === 6) {
    // Expand "::" to get the first four groups.
    const [head = "", tail = ""] = address.split("::");
    const h = head ? head.split(":") : [];
    const t = address.includes("::") ? (tail ? tail.split(":") : []) : [];
    const groups = address.includes("::") ? [...h, ...Array<string>(8 - h.length - t.length).fill("0"), ...t] : h;
    return `${groups
      .slice(0, 4)
      .map((g) => Number.parseInt(g || "0", 16).toString(16))
      .join(":")}::/64`;
  }
  return undefined;
}

/** A Vault address's host, when it is an IP address. */
function urlAddress(url: string): string | undefined {
  try {
    const h = new URL(url).hostname.replace(/^\[|\]$/g, "");
    return isIP(h) ? h : undefined;
  } catch {
    return undefined;
  }
}

function oneRange(addresses: string[]): string | undefined {
  if (addresses.length < 2) return undefined;
  const ranges = new Set(addresses.map(addressRange));
  const [only] = [...ranges];
  return ranges.size === 1 && only ? only : undefined;
}

export function haFindings(inv: Inventory): HaFinding[] {
  const out: HaFinding[] = [];
  const count = (r: HostRole) => hostsWithRole(inv, r).length;
  const where = (r: HostRole) => `inventory.hosts (role ${r})`;

  const etcd = count("etcd");
  if (etcd < 3)
    out.push({
      subject: "etcd",
      where: where("etcd"),
      message:
        etcd === 1
          ? "1 etcd member: losing it stops the API (no quorum)"
          : `${etcd} etcd members: a quorum needs ${Math.floor(etcd / 2) + 1}, so losing any one stops the API`,
      fix: "run 3 (or 5) etcd members",
    });
  else if (etcd % 2 === 0)
    out.push({
      subject: "etcd",
      where: where("etcd"),
      message: `${etcd} etcd members (an even number): a quorum needs ${etcd / 2 + 1}, so it survives no more failures than ${etcd - 1} members would`,
      fix: `run ${etcd - 1} or ${etcd + 1} etcd members`,
    });

  const cps = count("controlplane");
  if (cps === 1)
    out.push({ subject: "controlplane", where: where("controlplane"), message: "1 control plane: losing it stops the API, the controllers and the scheduler", fix: "run 3 control planes" });

  const lbs = count("loadbalancer");
  if (lbs === 0)
    out.push({ subject: "loadbalancer", where: where("loadbalancer"), message: "no load balancer: nothing holds the API virtual IP", fix: "run 2 load balancers (keepalived moves the virtual IP between them)" });
  else if (lbs === 1)
    out.push({ subject: "loadbalancer", where: where("loadbalancer"), message: "1 load balancer: losing it (or its haproxy) takes the API virtual IP away", fix: "run 2 load balancers (keepalived moves the virtual IP between them)" });

  const workers = count("worker");
  if (workers === 1)
    out.push({ subject: "worker", where: where("worker"), message: "1 worker: losing it stops every workload (control planes are tainted NoSchedule)", fix: "run 2 or more workers" });

  const vault = inv.vault?.addresses ?? [];
  if (vault.length === 0)
    out.push({ subject: "vault", where: "inventory.vault.addresses", message: "no Vault addresses: cannot tell whether Vault is highly available", fix: "list every Vault node (a 3-node raft cluster)" });
  else if (vault.length === 1)
    out.push({ subject: "vault", where: "inventory.vault.addresses", message: "a Vault of one node: while it is down no certificate renews (the working ones stay)", fix: "run Vault/OpenBao as a 3-node raft cluster and list every node" });
  else if (vault.length === 2)
    out.push({ subject: "vault", where: "inventory.vault.addresses", message: "a Vault of 2 nodes: raft's quorum is 2, so losing either stops renewals", fix: "run 3 Vault nodes" });

  // Quorum roles: a failure of the one network they share takes the quorum with it.
  const etcdRange = oneRange(hostsWithRole(inv, "etcd").map((h) => h.address));
  if (etcdRange)
    out.push({ subject: "etcd", where: where("etcd"), message: `every etcd member is in ${etcdRange}: one failure of that network loses the quorum`, fix: "spread the members over networks (racks, zones)" });
  const vaultAddrs = vault.map(urlAddress);
  const vaultRange = vaultAddrs.every((a): a is string => a !== undefined) ? oneRange(vaultAddrs) : undefined;
  if (vaultRange)
    out.push({ subject: "vault", where: "inventory.vault.addresses", message: `every Vault node is in ${vaultRange}: one failure of that network loses raft's quorum`, fix: "spread the nodes over networks (racks, zones)" });
  return out;
}

export function renderHaFindings(findings: readonly HaFinding[]): string {
  if (findings.length === 0) return "ha: no single point of failure found in the inventory";
  return [...findings.map((f) => `warning  ${f.subject}: ${f.message} (${f.where}; fix: ${f.fix})`), `ha: ${findings.length} single point${findings.length === 1 ? "" : "s"} of failure (warnings)`].join("\n");
}
