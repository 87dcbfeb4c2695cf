import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadInventory } from "../../src/common/inventory.js";
import { startLocalCluster, type LocalCluster } from "../../src/common/localbao.js";
import type { VaultRequestEvent } from "../../src/common/vault.js";
import { VaultClient } from "../../src/common/vault.js";
import { bootstrap } from "../../src/pki/bootstrap.js";
import { signProfile } from "../../src/pki/issue.js";

/**
 * A real 3-node OpenBao cluster (integrated raft): bootstrap through any
 * node, and signing goes on when the active node dies — the client moves to
 * the next address, a standby takes over.
 */

const inv = loadInventory("examples/demo-cluster.yaml");
const dir = mkdtempSync(join(tmpdir(), "hak-ha-"));
let cluster: LocalCluster;

beforeAll(async () => {
  cluster = await startLocalCluster(dir, 3);
}, 120_000);
afterAll(async () => {
  await cluster?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe("HA: three raft nodes", () => {
  it("bootstraps through a standby node (requests are forwarded to the active one)", async () => {
    const c = new VaultClient({ addresses: [cluster.nodes[2]!.address], token: cluster.rootToken, tls: { ca: cluster.caPem } });
    try {
      const plan = await bootstrap(c, inv);
      expect(plan.counts.create).toBeGreaterThan(100);
      expect((await bootstrap(c, inv)).counts).toMatchObject({ create: 0, update: 0, delete: 0 });
    } finally {
      await c.close();
    }
  });

  it("keeps signing when the active node is killed", async () => {
    const events: VaultRequestEvent[] = [];
    const c = new VaultClient({
      addresses: cluster.nodes.map((n) => n.address),
      token: cluster.rootToken,
      tls: { ca: cluster.caPem },
      timeoutMs: 5000,
      onRequest: (e) => events.push(e),
    });
    try {
      const leader = await c.readBare<{ leader_address: string }>("sys/leader");
      const active = cluster.nodes.find((n) => n.address === leader?.leader_address)!;
      expect(active).toBeDefined();
      await signProfile(c, inv, { profile: "etcd-server", host: "etcd1" });
      await active.stop();
      // A new leader is elected in a few seconds; until then the survivors answer 5xx.
      const deadline = Date.now() + 60_000;
      let signed = false;
      let lastError = "";
      while (!signed && Date.now() < deadline) {
        signed = await signProfile(c, inv, { profile: "etcd-server", host: "etcd1" }).then(
          () => true,
          async (err: unknown) => {
            lastError = String((err as Error).message);
            await sleep(500);
            return false;
          },
        );
      }
      expect(signed, lastError).toBe(true);
      expect(events.some((e) => e.address === active.address && !e.ok)).toBe(true);
      const after = await c.readBare<{ leader_address: string }>("sys/leader");
      expect(after?.leader_address).not.toBe(active.address);
    } finally {
      await c.close();
    }
  }, 90_000);
});
