import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { freePort } from "../../src/common/localbao.js";
import { Agent } from "../../src/agent/agent.js";
import { parseAgentConfig } from "../../src/agent/config.js";
import { memoryLogger } from "./fixture.js";
import { seededRandom } from "../helpers/random.js";

/** The loop's scheduling when Vault does not answer at all: backoff, not a busy loop; nothing written. */

const dir = mkdtempSync(join(tmpdir(), "hak-loop-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("the loop with no Vault", () => {
  it("backs off exponentially per output and sleeps until the next retry", async () => {
    const port = await freePort(); // nothing listens there
    const cfg = parseAgentConfig({
      host: "etcd1",
      vault: { addresses: [`http://127.0.0.1:${port}`], timeout: "2s" },
      auth: { roleId: "hak-x-etcd1", secretIdFile: join(dir, "secret-id") },
      // No probe within the test: this is the backoff alone (the probe has its own test).
      renewal: { backoffMin: "1s", backoffMax: "8s", probeInterval: "1h" },
      outputs: [
        { type: "certificate", name: "host-identity", profile: "host-identity", commonName: "etcd1", certFile: join(dir, "id.crt"), keyFile: join(dir, "id.key") },
      ],
    });
    writeFileSync(cfg.auth.secretIdFile, "a-secret-id\n", { mode: 0o600 });
    let now = Date.parse("2026-01-01T00:00:00Z");
    const { log, lines } = memoryLogger();
    const agent = new Agent(cfg, { log, now: () => now, random: () => 1 });
    const waits: number[] = [];
    for (let i = 0; i < 6; i++) {
      await agent.pass();
      const wait = agent.nextWakeIn();
      waits.push(wait);
      now += wait;
    }
    expect(waits).toEqual([1000, 2000, 4000, 8000, 8000, 8000]);
    expect(agent.notReady()).toEqual(["host-identity"]);
    expect(existsSync(cfg.auth.secretIdFile)).toBe(true); // kept: it was never used
    const errs = lines().filter((l) => l.msg === "output not updated; files left as they were");
    expect(errs).toHaveLength(6);
    expect(String(errs[0]!.err)).toMatch(/no answer: ECONNREFUSED/);
    expect(await agent.metrics.registry.getSingleMetricAsString("hak_agent_output_failures_total")).toMatch(/output="host-identity"} 6/);
  });

  it("probes Vault's health while waiting, once per probe interval at most twice as often, not once per output", async () => {
    const port = await freePort();
    const cert = (name: string, profile: "host-identity" | "etcd-server" | "etcd-peer", cn: string) => ({
      type: "certificate" as const,
      name,
      profile,
      commonName: cn,
      certFile: join(dir, `${name}.crt`),
      keyFile: join(dir, `${name}.key`),
    });
    const cfg = parseAgentConfig({
      host: "etcd1",
      vault: { addresses: [`http://127.0.0.1:${port}`], timeout: "2s" },
      auth: { roleId: "hak-x-etcd1", secretIdFile: join(dir, "secret-id-2") },
      renewal: { backoffMin: "10s", backoffMax: "5m", probeInterval: "1s" },
      outputs: [cert("host-identity", "host-identity", "etcd1"), cert("etcd-server", "etcd-server", "etcd1"), cert("etcd-peer", "etcd-peer", "etcd1")],
    });
    writeFileSync(cfg.auth.secretIdFile, "a-secret-id\n", { mode: 0o600 });
    const start = Date.parse("2026-01-01T00:00:00Z");
    let now = start;
    const agent = new Agent(cfg, { log: memoryLogger().log, now: () => now, random: seededRandom(3) });
    while (now - start < 120_000) {
      await agent.pass();
      now += agent.nextWakeIn();
    }
    const text = await agent.metrics.registry.getSingleMetricAsString("hak_agent_vault_probes_total");
    const probes = Number(text.match(/result="down"} (\d+)/)?.[1] ?? 0);
    // 120 s with a 1 s interval: about 120 probes for the three outputs together, never more than one per 0.5 s.
    expect(probes).toBeGreaterThan(60);
    expect(probes).toBeLessThanOrEqual(240);
    // The backoff itself grew as before (10 s, 20 s, 40 s, ...): far fewer attempts than probes.
    const failures = await agent.metrics.registry.getSingleMetricAsString("hak_agent_output_failures_total");
    expect(Number(failures.match(/output="host-identity"} (\d+)/)?.[1])).toBeLessThan(10);
    await agent.session.close();
  });
});
