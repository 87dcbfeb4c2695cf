import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PKCS8_PEM } from "../helpers/pem.js";
import { loadInventory, parseInventory, type Inventory } from "../../src/common/inventory.js";
import type { LocalBao } from "../../src/common/localbao.js";
import type { VaultClient } from "../../src/common/vault.js";
import { bootstrap } from "../../src/pki/bootstrap.js";
import { devBao } from "../helpers/bao.js";
import { vaultSnapshot } from "../helpers/snapshot.js";

let bao: LocalBao;
let c: VaultClient;
const demo = loadInventory("examples/demo-cluster.yaml");

beforeAll(async () => {
  bao = await devBao();
  c = bao.client();
});
afterAll(async () => {
  await c?.close();
  await bao?.stop();
});

const changed = (p: Awaited<ReturnType<typeof bootstrap>>) => p.entries.filter((e) => e.action !== "unchanged").map((e) => `${e.action} ${e.id}`).sort();

describe("hak-pki bootstrap against a real OpenBao", () => {
  it("dry run on an empty server plans everything and changes nothing", async () => {
    const before = await vaultSnapshot(c);
    const plan = await bootstrap(c, demo, { dryRun: true });
    expect(plan.applied).toBe(false);
    expect(plan.counts.create).toBeGreaterThan(100);
    expect(plan.counts.unchanged).toBe(0);
    expect(await vaultSnapshot(c)).toEqual(before);
  });

  it("creates the PKI on a fresh server, then a second run changes nothing", async () => {
    const first = await bootstrap(c, demo);
    expect(first.counts.update + first.counts.delete).toBe(0);
    // 4 CA mounts, 16 profiles (per host where named), 6 policies, 10 hosts x (approle, role-id, cert role, entity, 2 aliases).
    const ids = first.entries.map((e) => e.id);
    expect(ids).toContain("ca pki-etcd");
    // OpenBao >= 2.3: per-host roles with IP SANs are CEL roles; the kubelet client role stays classic.
    expect(ids).toContain("pki-cel-role pki-etcd/cel/roles/etcd-peer.etcd3");
    expect(ids).not.toContain("pki-role pki-etcd/roles/etcd-peer.etcd3");
    expect(ids).toContain("pki-role pki-kubernetes/roles/kubelet.worker2");
    expect(ids.filter((i) => i.startsWith("policy "))).toHaveLength(6);
    expect(ids.filter((i) => i.startsWith("entity-alias "))).toHaveLength(20);
    const second = await bootstrap(c, demo);
    expect(changed(second)).toEqual([]);
    expect(second.counts.unchanged).toBe(first.entries.length);
  });

  it("keeps the CAs and the service-account key across runs", async () => {
    const ca = (await c.read<{ certificate: string }>("pki-kubernetes/cert/ca"))!.certificate;
    const sa = await c.read<{ metadata: { version: number }; data: { key: string; pub: string } }>("hak-kv/data/service-account");
    expect(sa?.data.key).toMatch(PKCS8_PEM);
    expect(sa?.data.pub).toMatch(/^-----BEGIN PUBLIC KEY-----/);
    await bootstrap(c, demo);
    expect((await c.read<{ certificate: string }>("pki-kubernetes/cert/ca"))!.certificate).toBe(ca);
    const again = await c.read<{ metadata: { version: number }; data: { key: string } }>("hak-kv/data/service-account");
    expect(again?.metadata.version).toBe(1);
    expect(again?.data.key).toBe(sa?.data.key);
  });

  it("dry run after a change plans only that change and still changes nothing", async () => {
    const grown: Inventory = parseInventory({ ...demo, hosts: [...demo.hosts, { name: "worker3", role: "worker", address: "10.240.0.33" }] });
    const before = await vaultSnapshot(c);
    const plan = await bootstrap(c, grown, { dryRun: true });
    expect(await vaultSnapshot(c)).toEqual(before);
    expect(changed(plan)).toEqual(
      [
        "create pki-role pki-kubernetes/roles/kubelet.worker3",
        "create pki-cel-role pki-kubernetes/cel/roles/kubelet-serving.worker3",
        "create pki-cel-role pki-identity/cel/roles/host-identity.worker3",
        "create approle-role auth/approle/role/worker3",
        "create approle-role-id auth/approle/role/worker3/role-id",
        "create cert-role auth/cert/certs/worker3",
        "create entity identity/entity/name/hak-host-worker3",
        "create entity-alias approle hak-demo-worker3",
        "create entity-alias cert worker3",
      ].sort(),
    );
  });

  it("a new worker yields exactly its objects; removing it deletes exactly those", async () => {
    const grown: Inventory = parseInventory({ ...demo, hosts: [...demo.hosts, { name: "worker3", role: "worker", address: "10.240.0.33" }] });
    const add = await bootstrap(c, grown);
    expect(add.counts).toMatchObject({ create: 9, update: 0, delete: 0 });
    expect(changed(await bootstrap(c, grown))).toEqual([]);
    const entity = await c.read<{ metadata: Record<string, string>; aliases: { name: string }[] }>("identity/entity/name/hak-host-worker3");
    expect(entity?.metadata).toEqual({ host: "worker3", role: "worker", cluster: "demo" });
    expect(entity?.aliases.map((a) => a.name).sort()).toEqual(["hak-demo-worker3", "worker3"]);

    const removed = await bootstrap(c, demo);
    expect(changed(removed)).toEqual(
      [
        "delete pki-role pki-kubernetes/roles/kubelet.worker3",
        "delete pki-cel-role pki-kubernetes/cel/roles/kubelet-serving.worker3",
        "delete pki-cel-role pki-identity/cel/roles/host-identity.worker3",
        "delete approle-role auth/approle/role/worker3",
        "delete cert-role auth/cert/certs/worker3",
        "delete entity identity/entity/name/hak-host-worker3",
      ].sort(),
    );
    expect(await c.read("pki-kubernetes/roles/kubelet.worker3")).toBeUndefined();
    expect(changed(await bootstrap(c, demo))).toEqual([]);
  });

  it("puts back a role someone edited, and shows what differed", async () => {
    // As the UI does: read the role, change two fields, write it whole.
    const current = await c.read<Record<string, unknown>>("pki-kubernetes/roles/kubelet.worker1");
    await c.write("pki-kubernetes/roles/kubelet.worker1", { ...current, allow_any_name: true, organization: ["system:masters"] });
    const plan = await bootstrap(c, demo, { dryRun: true });
    const e = plan.entries.find((x) => x.id === "pki-role pki-kubernetes/roles/kubelet.worker1")!;
    expect(e.action).toBe("update");
    expect(e.diffs.map((d) => d.field).sort()).toEqual(["allow_any_name", "organization"]);
    await bootstrap(c, demo);
    const role = await c.read<{ allow_any_name: boolean; organization: string[] }>("pki-kubernetes/roles/kubelet.worker1");
    expect(role).toMatchObject({ allow_any_name: false, organization: ["system:nodes"] });
  });

  it("changing the leaf TTL updates every role and nothing else", async () => {
    const shorter = parseInventory({ ...demo, leafTtl: "2m" });
    const plan = await bootstrap(c, shorter, { dryRun: true });
    const kinds = new Set(plan.entries.filter((e) => e.action !== "unchanged").map((e) => e.kind));
    expect([...kinds].sort()).toEqual(["pki-cel-role", "pki-role"]);
    expect(plan.counts.update).toBe(plan.entries.filter((e) => e.kind === "pki-role" || e.kind === "pki-cel-role").length);
    for (const e of plan.entries.filter((x) => x.action === "update")) {
      // 2 minutes: the backdate shrinks to a tenth of the lifetime (12 s) too.
      expect(e.diffs.map((d) => d.field).sort()).toEqual(e.kind === "pki-role" ? ["max_ttl", "not_before_duration", "ttl"] : ["cel_program"]);
    }
  });

  it("on a server without CEL (or with --no-cel) plans classic roles and replaces the CEL ones", async () => {
    const plan = await bootstrap(c, demo, { dryRun: true, cel: false });
    expect(changed(plan)).toContain("create pki-role pki-etcd/roles/etcd-peer.etcd3");
    expect(changed(plan)).toContain("delete pki-cel-role pki-etcd/cel/roles/etcd-peer.etcd3");
    expect(changed(plan).filter((l) => l.includes("kubelet.worker1"))).toEqual([]);
  });

  it("refuses to take over a mount of another type", async () => {
    await c.write("sys/mounts/hak-kv-probe", { type: "kv" });
    const other = await devBao();
    const oc = other.client();
    try {
      await oc.write("sys/mounts/pki-etcd", { type: "kv" });
      await expect(bootstrap(oc, demo)).rejects.toThrow(/sys\/mounts\/pki-etcd exists with type "kv", hak needs "pki"/);
    } finally {
      await oc.close();
      await other.stop();
    }
  });

  it("refuses a leafTtl longer than a CA has left, naming the field", async () => {
    // The CAs exist by now (earlier tests) and were made 10 years long: 87600h is more than they have left.
    const err = await bootstrap(c, parseInventory({ ...demo, leafTtl: "87600h" }), { dryRun: true }).then(
      () => undefined,
      (e: unknown) => e as { describe(): string; exitCode: number },
    );
    expect(err?.describe()).toMatch(/^inventory leafTtl: leafTtl 3650d is longer than the \S+ CA has left \(/);
    expect(err?.exitCode).toBe(2);
  });
});
