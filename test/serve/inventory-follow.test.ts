import { mkdtempSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { stringify } from "yaml";
import type { InventoryInput } from "../../src/common/inventory.js";
import { parseInventory } from "../../src/common/inventory.js";
import type { LocalBao } from "../../src/common/localbao.js";
import type { VaultClient } from "../../src/common/vault.js";
import { bootstrap } from "../../src/pki/bootstrap.js";
import { signProfile } from "../../src/pki/issue.js";
import { FleetMonitor } from "../../src/pki/serve/monitor.js";
import { devBao } from "../helpers/bao.js";

/**
 * serve follows its inventory file (issue 13): the demo's `--ttl 5m` rewrote
 * the inventory and re-bootstrapped Vault, but a serve started before kept
 * the old leafTtl — it drew the new certificates with the old backdate
 * (issued "in the future", late 5 s before expiry) and listed every role's
 * ttl as drift. Here the file changes under a running monitor, against a real
 * OpenBao; a monitor without the file is the control that shows the bug.
 */

const doc = (leafTtl: string): InventoryInput => ({
  name: "follow",
  hostDomain: "k8s.test",
  apiVip: "127.0.173.10",
  serviceCidr: "10.32.0.0/24",
  podCidr: "10.200.0.0/16",
  leafTtl,
  hosts: [
    { name: "etcd1", role: "etcd", address: "127.0.173.11" },
    { name: "cp1", role: "controlplane", address: "127.0.173.21" },
  ],
});

describe("serve follows inventory changes", () => {
  let bao: LocalBao;
  let root: VaultClient;
  const dir = mkdtempSync(join(tmpdir(), "hak-follow-"));
  const file = join(dir, "inventory.yaml");

  beforeAll(async () => {
    bao = await devBao();
    root = bao.client();
    writeFileSync(file, stringify(doc("720h")));
    await bootstrap(root, parseInventory(doc("720h")));
  });

  afterAll(async () => {
    await root?.close();
    await bao?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("a new leafTtl in the file: states follow without a restart, no false ttl drift", async () => {
    const first = parseInventory(doc("720h"));
    const follows = new FleetMonitor({ inventory: first, inventoryFile: file, client: root, externalUrl: "" });
    const frozen = new FleetMonitor({ inventory: first, client: root, externalUrl: "" });
    expect((await follows.refresh({ drift: true })).drift?.items).toEqual([]);

    // What `npm run demo -- --ttl 5m` does: a new inventory (written by rename), bootstrap, agents renew.
    const short = parseInventory(doc("5m"));
    writeFileSync(`${file}.tmp`, stringify(doc("5m")));
    renameSync(`${file}.tmp`, file);
    await bootstrap(root, short);
    const before = Date.now();
    await signProfile(root, short, { profile: "etcd-server", host: "etcd1" });

    const s = await follows.refresh({ drift: true });
    expect(follows.inventory().leafTtl).toBe(300);
    expect(s.inventoryError).toBeUndefined();
    expect(s.drift?.items).toEqual([]);
    const e = s.fleet.find((x) => x.id === "etcd1/etcd-server")!;
    expect(e.state).toBe("ok");
    const issued = Date.parse(e.issuedAt!);
    // Signed just now (whole seconds), not in the future; due at 2/3 and late at 5/6 of 300 s.
    expect(issued).toBeGreaterThanOrEqual(Math.floor(before / 1000) * 1000 - 1000);
    expect(issued).toBeLessThanOrEqual(Date.now());
    expect(Date.parse(e.renewAt!) - issued).toBe(200_000);
    expect(Date.parse(e.lateAt!) - issued).toBe(250_000);

    // The control: a serve that read the inventory once shows what the issue saw.
    const f = await frozen.refresh({ drift: true });
    const fe = f.fleet.find((x) => x.id === "etcd1/etcd-server")!;
    expect(Date.parse(fe.issuedAt!)).toBeGreaterThan(Date.now());
    expect(f.drift!.items.flatMap((d) => d.changes).some((c) => c.startsWith("ttl:"))).toBe(true);
    await follows.stop();
    await frozen.stop();
  });

  it("a broken edit keeps the last good inventory and says why", async () => {
    const m = new FleetMonitor({ inventory: parseInventory(doc("5m")), inventoryFile: file, client: root, externalUrl: "" });
    writeFileSync(file, stringify({ ...doc("5m"), leafTtl: "soon" }));
    const s = await m.refresh({ drift: false });
    expect(s.inventoryError).toMatch(/leafTtl/);
    expect(m.inventory().leafTtl).toBe(300);
    writeFileSync(file, stringify(doc("5m")));
    expect((await m.refresh({ drift: false })).inventoryError).toBeUndefined();
    await m.stop();
  });
});
