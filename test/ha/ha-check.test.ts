import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { parseInventory, type InventoryInput } from "../../src/common/inventory.js";
import { PROJECT_ROOT } from "../../src/common/paths.js";
import { addressRange, haFindings } from "../../src/deploy/ha-check.js";
import { runCli } from "../deploy/helpers/cli.js";

/** A cluster with no single point of failure: 3 etcd and 3 Vault nodes each over three networks, 2 of the rest. */
const good: InventoryInput = {
  name: "ha",
  hostDomain: "ha.local",
  apiVip: "10.1.0.10",
  serviceCidr: "10.32.0.0/24",
  podCidr: "10.200.0.0/16",
  vault: { addresses: ["https://10.1.0.5:8200", "https://10.2.0.5:8200", "https://10.3.0.5:8200"] },
  hosts: [
    { name: "etcd1", role: "etcd", address: "10.1.0.11" },
    { name: "etcd2", role: "etcd", address: "10.2.0.11" },
    { name: "etcd3", role: "etcd", address: "10.3.0.11" },
    { name: "cp1", role: "controlplane", address: "10.1.0.21" },
    { name: "cp2", role: "controlplane", address: "10.2.0.21" },
    { name: "cp3", role: "controlplane", address: "10.3.0.21" },
    { name: "w1", role: "worker", address: "10.1.0.31" },
    { name: "w2", role: "worker", address: "10.2.0.31" },
    { name: "lb1", role: "loadbalancer", address: "10.1.0.41" },
    { name: "lb2", role: "loadbalancer", address: "10.1.0.42" },
  ],
};

const without = (names: string[], extra: Partial<InventoryInput> = {}) => parseInventory({ ...good, ...extra, hosts: good.hosts.filter((h) => !names.includes(h.name)) });
const subjects = (inv: ReturnType<typeof parseInventory>) => haFindings(inv).map((f) => `${f.subject}: ${f.message}`);

describe("haFindings: single points of failure from the inventory", () => {
  it("none for 3 etcd, 3 Vault nodes over three networks, 3 control planes, 2 workers, 2 load balancers", () => {
    expect(haFindings(parseInventory(good))).toEqual([]);
  });
  it("1 or 2 etcd members: losing one stops the API; 4 (even) survive no more than 3", () => {
    expect(subjects(without(["etcd2", "etcd3"]))).toEqual(["etcd: 1 etcd member: losing it stops the API (no quorum)"]);
    expect(subjects(without(["etcd3"]))).toEqual(["etcd: 2 etcd members: a quorum needs 2, so losing any one stops the API"]);
    const four = parseInventory({ ...good, hosts: [...good.hosts, { name: "etcd4", role: "etcd", address: "10.4.0.11" }] });
    expect(subjects(four)).toEqual(["etcd: 4 etcd members (an even number): a quorum needs 3, so it survives no more failures than 3 members would"]);
  });
  it("1 load balancer, none, 1 control plane, 1 worker", () => {
    expect(subjects(without(["lb2"]))).toEqual(["loadbalancer: 1 load balancer: losing it (or its haproxy) takes the API virtual IP away"]);
    expect(haFindings(without(["lb1", "lb2"])).map((f) => f.subject)).toEqual(["loadbalancer"]);
    expect(haFindings(without(["cp2", "cp3"])).map((f) => f.subject)).toEqual(["controlplane"]);
    expect(haFindings(without(["w2"])).map((f) => f.subject)).toEqual(["worker"]);
  });
  it("a Vault of one node, of two, or with no addresses at all", () => {
    expect(subjects(without([], { vault: { addresses: ["https://10.1.0.5:8200"] } }))).toEqual(["vault: a Vault of one node: while it is down no certificate renews (the working ones stay)"]);
    expect(haFindings(without([], { vault: { addresses: ["https://10.1.0.5:8200", "https://10.2.0.5:8200"] } })).map((f) => f.subject)).toEqual(["vault"]);
    const { vault: _v, ...noVault } = good;
    expect(haFindings(parseInventory(noVault)).map((f) => f.where)).toEqual(["inventory.vault.addresses"]);
  });
  it("a quorum role with every host in one /24 (IPv4) or /64 (IPv6); names are not judged", () => {
    const oneNet = parseInventory({ ...good, hosts: good.hosts.map((h) => (h.role === "etcd" ? { ...h, address: `10.1.0.1${h.name.slice(-1)}` } : h)) });
    expect(subjects(oneNet)).toEqual(["etcd: every etcd member is in 10.1.0.0/24: one failure of that network loses the quorum"]);
    const vault6 = without([], { vault: { addresses: ["https://[fd00:1::5]:8200", "https://[fd00:1:0:0::6]:8200", "https://[fd00:1::7]:8200"] } });
    expect(subjects(vault6)).toEqual(["vault: every Vault node is in fd00:1:0:0::/64: one failure of that network loses raft's quorum"]);
    expect(haFindings(without([], { vault: { addresses: ["https://vault1:8200", "https://vault2:8200", "https://vault3:8200"] } }))).toEqual([]);
  });
  it("addressRange", () => {
    expect(addressRange("192.168.7.9")).toBe("192.168.7.0/24");
    expect(addressRange("2001:db8::1")).toBe("2001:db8:0:0::/64");
    expect(addressRange("fd00:1:2:3:4:5:6:7")).toBe("fd00:1:2:3::/64");
    expect(addressRange("vault1")).toBeUndefined();
  });
});

describe("hak-deploy check --ha", () => {
  const dir = mkdtempSync(join(tmpdir(), "hak-ha-check-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("the demo inventory: warnings for what it shares (one /24 for etcd and for Vault), exit 0, no host contacted", async () => {
    const r = await runCli(["check", "--ha", "-i", join(PROJECT_ROOT, "examples", "demo-cluster.yaml")]);
    expect(r.code).toBe(0);
    expect(r.out).toContain("warning  etcd: every etcd member is in 10.240.0.0/24");
    expect(r.out).toContain("warning  vault: every Vault node is in 10.240.0.0/24");
    expect(r.out).toMatch(/ha: 2 single points of failure \(warnings\)\n$/);
  });

  it("--json lists the warnings with where and fix", async () => {
    const file = join(dir, "small.yaml");
    writeFileSync(file, stringify({ ...good, vault: { addresses: ["https://10.1.0.5:8200"] }, hosts: good.hosts.filter((h) => !["etcd2", "etcd3", "lb2"].includes(h.name)) }));
    const r = await runCli(["check", "--ha", "--json", "-i", file]);
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.out) as { warnings: { subject: string; where: string; fix: string }[] };
    expect(doc.warnings.map((w) => w.subject)).toEqual(["etcd", "loadbalancer", "vault"]);
    expect(doc.warnings.every((w) => w.where.startsWith("inventory.") && w.fix.length > 0)).toBe(true);
  });

  it("none found: says so", async () => {
    const file = join(dir, "good.yaml");
    writeFileSync(file, stringify(good));
    const r = await runCli(["check", "--ha", "-i", file]);
    expect(r).toMatchObject({ code: 0, out: "ha: no single point of failure found in the inventory\n" });
  });

  it("a bad inventory is an input error (exit 2) naming the field", async () => {
    const file = join(dir, "bad.yaml");
    writeFileSync(file, stringify({ ...good, hosts: [{ name: "etcd1", role: "etcd", address: "not-an-ip" }] }));
    const r = await runCli(["check", "--ha", "-i", file]);
    expect(r.code).toBe(2);
    expect(r.err).toContain("hosts[0].address");
  });
});
