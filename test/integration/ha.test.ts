import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
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
import { Agent } from "../../src/agent/agent.js";
import { parseAgentConfig, type AgentConfig } from "../../src/agent/config.js";
import { approleRoleId } from "../../src/common/names.js";
import { readCertOnDisk } from "../../src/agent/outputs.js";
import { certOutput, loopbackInventory, memoryLogger } from "../agent/fixture.js";

/**
 * A real 3-node OpenBao cluster (integrated raft): bootstrap through any
 * node, and signing goes on when the active node dies — the client moves to
 * the next address, a standby takes over. Killed gracefully (SIGTERM: it
 * steps down) and abruptly (SIGKILL: the followers must notice and elect),
 * with real agents renewing short-lived certificates meanwhile; the pause is
 * measured and printed. Raft's performance_multiplier is 1 (the production
 * setting); HAK_HA_PERF_MULTIPLIER=0 measures the server default instead.
 */

void loadInventory; // the demo inventory's addresses are not on this machine; the agents need loopback ones
const inv = loopbackInventory("ha", "127.0.39", { leafTtl: "1h" });
const dir = mkdtempSync(join(tmpdir(), "hak-ha-"));
let cluster: LocalCluster;
const multiplier = Number(process.env.HAK_HA_PERF_MULTIPLIER ?? 1);

beforeAll(async () => {
  // Five nodes: the SIGTERM test takes one away for good, the SIGKILL test a second, and three keep the quorum.
  cluster = await startLocalCluster(dir, 5, { performanceMultiplier: multiplier });
}, 120_000);
afterAll(async () => {
  await cluster?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe("HA: five raft nodes", () => {
  it("bootstraps through a standby node (requests are forwarded to the active one)", async () => {
    const c = new VaultClient({ addresses: [cluster.nodes[2]!.address], token: cluster.rootToken, tls: { ca: cluster.caPem } });
    try {
      const plan = await bootstrap(c, inv);
      expect(plan.counts.create).toBeGreaterThan(50);
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

  it("keeps signing when the active node is SIGKILLed while agents renew: pause measured", async () => {
    const client = cluster.client();
    const addresses = cluster.nodes.map((n) => n.address);
    // The previous test stopped the active node: start from a settled cluster (every node that answers names
    // the same leader, which answers too), not from an election still under way on a loaded machine.
    expect(await settledLeader(addresses, cluster.caPem, 60_000), "the raft cluster settles on a leader").toBeDefined();
    const caFile = join(dir, "tls", "ca.crt");
    // Four hosts' agents on 30-second certificates (renewed every ~20 s), every node's address in their config.
    const hosts = [
      ["etcd1", "etcd-server"],
      ["etcd2", "etcd-peer"],
      ["etcd3", "etcd-server"],
      ["controlplane1", "apiserver-etcd-client"],
    ] as const;
    const agents: { host: string; cfg: AgentConfig; agent: Agent }[] = [];
    for (const [host, profile] of hosts) {
      const hdir = join(dir, "agents", host);
      mkdirSync(hdir, { recursive: true });
      const sid = await client.write<{ secret_id: string }>(`auth/approle/role/${host}/secret-id`, {});
      writeFileSync(join(hdir, "secret-id"), `${sid!.data!.secret_id}\n`, { mode: 0o600 });
      const h = inv.hosts.find((x) => x.name === host)!;
      const cfg = parseAgentConfig({
        host,
        vault: { addresses, caFile, sourceAddress: h.address, timeout: "5s" },
        auth: { roleId: approleRoleId(inv.name, host), secretIdFile: join(hdir, "secret-id") },
        renewal: { backoffMin: "1s", backoffMax: "5s", probeInterval: "1s", recoverySpread: "1s", debounce: "0s" },
        outputs: [certOutput(inv, host, "host-identity", join(hdir, "id"), { ttl: "30s" }), certOutput(inv, host, profile, join(hdir, "pki"), { ttl: "30s" })],
      });
      const agent = new Agent(cfg, { log: memoryLogger().log });
      expect(await agent.once()).toBe(true);
      agents.push({ host, cfg, agent: new Agent(cfg, { log: memoryLogger().log }) });
    }
    const ac = new AbortController();
    const loops = agents.map((a) => a.agent.run(ac.signal));
    // A client that signs every 200 ms measures the pause as the agents would see it, at a finer grain.
    const signs: { at: number; ok: boolean }[] = [];
    let signing = true;
    const signer = (async () => {
      const c = new VaultClient({ addresses, token: cluster.rootToken, tls: { ca: cluster.caPem }, timeoutMs: 5000 });
      try {
        while (signing) {
          const ok = await signProfile(c, inv, { profile: "etcd-server", host: "etcd1", ttl: "30s" }).then(
            () => true,
            () => false,
          );
          signs.push({ at: Date.now(), ok });
          await sleep(200);
        }
      } finally {
        await c.close();
      }
    })();
    try {
      await sleep(3000);
      const leader = await client.readBare<{ leader_address: string }>("sys/leader");
      const active = cluster.nodes.find((n) => n.address === leader?.leader_address)!;
      expect(active).toBeDefined();
      const killedAt = Date.now();
      await active.kill("SIGKILL");
      const deadline = Date.now() + 60_000;
      while (Date.now() < deadline && !signs.some((x) => x.ok && x.at > killedAt)) await sleep(100);
      const firstOk = signs.find((x) => x.ok && x.at > killedAt)?.at;
      expect(firstOk, "no signature after the kill").toBeDefined();
      const failed = signs.filter((x) => !x.ok && x.at > killedAt).length;
      // Then every agent renews again: each certificate on disk is newer than the kill.
      const obtained = (o: AgentConfig["outputs"][number]) => (o.type === "certificate" ? (readCertOnDisk(o).obtainedAt?.getTime() ?? 0) : 0);
      const renewedAfterKill = () => agents.every((a) => a.cfg.outputs.every((o) => obtained(o) > killedAt));
      while (Date.now() < deadline && !renewedAfterKill()) await sleep(200);
      const agentsDone = Date.now();
      console.log(
        `raft leader SIGKILL (performance_multiplier ${multiplier}): signing paused ${((firstOk! - killedAt) / 1000).toFixed(1)}s ` +
          `(${failed} failed signs at 200 ms); every agent had renewed both certificates ${((agentsDone - killedAt) / 1000).toFixed(1)}s after the kill`,
      );
      expect(renewedAfterKill()).toBe(true);
      for (const a of agents) expect(a.agent.notReady(), a.host).toEqual([]);
      const after = await client.readBare<{ leader_address: string }>("sys/leader");
      expect(after?.leader_address).not.toBe(active.address);
    } finally {
      signing = false;
      await signer;
      ac.abort();
      await Promise.all(loops);
      await client.close();
    }
  }, 150_000);
});

/** The leader every answering node agrees on, once they do and it answers too; undefined after `ms`. */
async function settledLeader(addresses: string[], caPem: string, ms: number): Promise<string | undefined> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    const seen = await Promise.all(
      addresses.map(async (a) => {
        const c = new VaultClient({ addresses: [a], tls: { ca: caPem }, timeoutMs: 2000 });
        try {
          return (await c.readBare<{ leader_address?: string }>("sys/leader", { token: null }))?.leader_address || "";
        } catch {
          return undefined; // not answering (stopped)
        } finally {
          await c.close();
        }
      }),
    );
    const answering = seen.filter((x): x is string => x !== undefined);
    const leader = answering[0];
    if (leader && answering.every((x) => x === leader) && addresses.some((a, i) => a === leader && seen[i] !== undefined)) return leader;
    await sleep(500);
  }
  return undefined;
}
