import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { freePort } from "../../src/common/localbao.js";
import { Agent } from "../../src/agent/agent.js";
import { parseAgentConfig } from "../../src/agent/config.js";
import { memoryLogger } from "./fixture.js";

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
});
