import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadInventory } from "../../src/common/inventory.js";
import type { LocalBao } from "../../src/common/localbao.js";
import { VaultClient } from "../../src/common/vault.js";
import { bootstrap } from "../../src/pki/bootstrap.js";
import { signProfile } from "../../src/pki/issue.js";
import { latestByIdentity, listIssued, type IssuedCache } from "../../src/pki/issued.js";
import { devBao } from "../helpers/bao.js";

const inv = loadInventory("examples/demo-cluster.yaml");
const hosts = new Set(inv.hosts.map((h) => h.name));
let bao: LocalBao;
let c: VaultClient;
const reads: string[] = [];

beforeAll(async () => {
  bao = await devBao();
  c = new VaultClient({ addresses: [bao.address], token: bao.rootToken, onRequest: (e) => reads.push(e.path) });
  await bootstrap(c, inv);
});
afterAll(async () => {
  await c?.close();
  await bao?.stop();
});

describe("reading what Vault issued", () => {
  it("maps stored certificates to profile and host, and reads each serial once with a cache", async () => {
    const a = await signProfile(c, inv, { profile: "etcd-peer", host: "etcd2" });
    await signProfile(c, inv, { profile: "kube-proxy" });
    const cache: IssuedCache = new Map();
    const first = await listIssued(c, hosts, cache);
    expect(first.map((x) => `${x.profile}/${x.host ?? ""}`).sort()).toEqual(["etcd-peer/etcd2", "kube-proxy/"]);

    reads.length = 0;
    await listIssued(c, hosts, cache);
    expect(reads.filter((p) => /\/cert\//.test(p))).toEqual([]);

    // Certificates carry whole seconds: the next one must be signed in a later second to be "newer".
    await new Promise((r) => setTimeout(r, 1100));
    const b = await signProfile(c, inv, { profile: "etcd-peer", host: "etcd2" });
    reads.length = 0;
    const third = await listIssued(c, hosts, cache);
    expect(reads.filter((p) => /\/cert\//.test(p))).toEqual([`pki-etcd/cert/${b.serial}`]);
    expect(latestByIdentity(third).get("etcd-peer/etcd2")?.serial).toBe(b.serial);

    // Revoking the newest makes the older one current again, without re-reading either.
    await c.write("pki-etcd/revoke", { serial_number: b.serial });
    reads.length = 0;
    const fourth = await listIssued(c, hosts, cache);
    expect(reads.filter((p) => /\/cert\//.test(p))).toEqual([]);
    expect(fourth.find((x) => x.serial === b.serial)?.revoked).toBe(true);
    expect(latestByIdentity(fourth).get("etcd-peer/etcd2")?.serial).toBe(a.serial);
  });
});
