import { createServer, type Server } from "node:http";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { certFacts } from "../../src/common/x509.js";
import { Agent } from "../../src/agent/agent.js";
import type { AgentConfig, CertificateOutput } from "../../src/agent/config.js";
import { readCertOnDisk } from "../../src/agent/outputs.js";
import { certLife } from "../../src/common/lifetime.js";
import { agentApp } from "../../src/agent/http.js";
import { certOutput, hostConfig, loopbackInventory, memoryLogger, startLab, type Lab } from "./fixture.js";

/**
 * Recovery from a Vault outage, against a real OpenBao and real agent loops:
 * Vault stopped past the renewal point until every agent's backoff has grown,
 * then started again; every agent renews within seconds of Vault answering
 * (the health probe), not when its backoff runs out. Then the signals of a
 * certificate that goes from late to expired, and the stale secret-ID file.
 */

const inv = loopbackInventory("rcv", "127.0.36", { leafTtl: "1h" });
const HOSTS = [
  ["etcd1", "etcd-server"],
  ["etcd2", "etcd-server"],
  ["etcd3", "etcd-server"],
  ["controlplane1", "apiserver-etcd-client"],
] as const;
let lab: Lab;
const cfgs = new Map<string, AgentConfig>();

beforeAll(async () => {
  lab = await startLab(inv);
  for (const [host, profile] of HOSTS) {
    const dir = join(lab.dir, host);
    const cfg = await hostConfig(lab, host, dir, [certOutput(inv, host, profile, join(dir, "pki"))], {
      secretId: true,
      // A real backoff that grows to half a minute, and a fast probe.
      extra: { renewal: { backoffMin: "4s", backoffMax: "5m", probeInterval: "1s", recoverySpread: "1s", debounce: "0s" } },
    });
    cfgs.set(host, cfg);
    const first = new Agent(cfg, { log: memoryLogger().log });
    expect(await first.once()).toBe(true);
  }
}, 120_000);

afterAll(async () => {
  await lab?.cleanup();
});

const serials = (cfg: AgentConfig) => cfg.outputs.map((o) => (o.type === "certificate" ? certFacts(readFileSync(o.certFile, "utf8")).serial : ""));

describe("Vault stopped past the renewal point, then back", () => {
  it("every agent renews within seconds of Vault answering, long before its backoff would retry", async () => {
    // 47 of 60 minutes gone: past every jittered renewal point (2/3 ± 0.1), not yet late (5/6).
    const offset = 47 * 60_000;
    const before = new Map([...cfgs].map(([h, c]) => [h, serials(c)]));
    await lab.stopBao();
    const ac = new AbortController();
    const agents = [...cfgs].map(([host, cfg]) => {
      const mem = memoryLogger();
      return { host, cfg, mem, agent: new Agent(cfg, { log: mem.log, now: () => Date.now() + offset }) };
    });
    const loops = agents.map((a) => a.agent.run(ac.signal));
    try {
      // Let the backoff grow until every output still has at least 10 s to wait (4 s · 2^n with jitter: after 4-5 failures).
      const deadline = Date.now() + 120_000;
      const minWait = () => Math.min(...agents.flatMap((a) => a.agent.status().map((s) => (s.retryAt ? Date.parse(s.retryAt) - (Date.now() + offset) : 0))));
      while (minWait() < 10_000 && Date.now() < deadline) await sleep(100);
      expect(minWait()).toBeGreaterThanOrEqual(10_000);
      const retryAt = new Map(agents.map((a) => [a.host, a.agent.status().map((s) => Date.parse(s.retryAt!) - offset)]));
      for (const a of agents) expect(serials(a.cfg)).toEqual(before.get(a.host));

      await lab.startBao(); // returns once the server is unsealed and active
      const answering = Date.now();
      const renewed = new Map<string, number>();
      while (renewed.size < agents.length && Date.now() < answering + 60_000) {
        for (const a of agents) {
          if (renewed.has(a.host)) continue;
          const now = serials(a.cfg);
          if (now.every((s, i) => s !== before.get(a.host)![i])) renewed.set(a.host, Date.now());
        }
        await sleep(50);
      }
      const rows = agents.map((a) => ({
        host: a.host,
        backoffLeftSeconds: +((Math.max(...retryAt.get(a.host)!) - answering) / 1000).toFixed(1),
        renewedAfterSeconds: renewed.has(a.host) ? +((renewed.get(a.host)! - answering) / 1000).toFixed(2) : undefined,
      }));
      console.log("recovery after Vault answered again (seconds):\n" + rows.map((r) => `  ${r.host}: renewed after ${r.renewedAfterSeconds}s; its backoff had ${r.backoffLeftSeconds}s left`).join("\n"));
      for (const a of agents) {
        const slow = !renewed.has(a.host) || renewed.get(a.host)! - answering > 10_000;
        if (slow) console.log(a.host, a.mem.lines().filter((l) => (l.time as number) >= answering - 5000).map((l) => `${(((l.time as number) - answering) / 1000).toFixed(2)} ${String(l.msg)}: ${String(l.err ?? "")}`));
        expect(renewed.has(a.host), a.host).toBe(true);
        // Every output renewed before the retry its backoff had scheduled: the probe cut the wait short.
        for (const t of retryAt.get(a.host)!) expect(renewed.get(a.host)!, a.host).toBeLessThan(t);
        expect(a.mem.lines().some((l) => l.msg === "Vault answers again; retrying what waited on it")).toBe(true);
        expect(await a.agent.metrics.registry.getSingleMetricAsString("hak_agent_vault_probes_total")).toMatch(/result="up"} [1-9]/);
      }
    } finally {
      ac.abort();
      await Promise.all(loops);
    }
  }, 240_000);
});

describe("late, then expired: the signals stay on", () => {
  it("late and expired gauges, state label, webhook for both, /readyz 503 and /healthz 200; renewed once enrolled again", async () => {
    const cfg0 = cfgs.get("etcd2")!;
    const hooks: { output: string; state: string }[] = [];
    const hook: Server = createServer((req, res) => {
      let body = "";
      req.on("data", (d: Buffer) => (body += d.toString()));
      req.on("end", () => {
        hooks.push(JSON.parse(body) as { output: string; state: string });
        res.end("ok");
      });
    });
    await new Promise<void>((r) => hook.listen(0, "127.0.0.1", r));
    const cfg: AgentConfig = { ...cfg0, lateWebhook: `http://127.0.0.1:${(hook.address() as { port: number }).port}/hak` };
    const disk = readCertOnDisk(cfg.outputs[1] as CertificateOutput);
    const notAfter = disk.facts!.notAfter.getTime();
    const start = certLife(disk.facts!.notBefore, disk.facts!.notAfter, { obtainedAt: disk.obtainedAt }).signedAt.getTime();
    let now = start + 0.9 * (notAfter - start); // in its last sixth
    const agent = new Agent(cfg, { log: memoryLogger().log, now: () => now });
    const app = agentApp(agent, agent.metrics.registry);
    const text = () => agent.metrics.registry.metrics();
    const gauge = (t: string, name: string, labels: string) => Number(t.match(new RegExp(`^${name}\\{${labels}\\} (\\S+)$`, "m"))?.[1]);
    try {
      await lab.stopBao();
      await agent.pass();
      let t = await text();
      expect(gauge(t, "hak_agent_certificate_late", 'output="etcd-server"')).toBe(1);
      expect(gauge(t, "hak_agent_certificate_expired", 'output="etcd-server"')).toBe(0);
      expect(gauge(t, "hak_agent_output_state", 'output="etcd-server",state="late"')).toBe(1);
      expect((await app.request("/readyz")).status).toBe(200); // late is still valid
      now = notAfter + 60_000;
      await agent.pass();
      t = await text();
      // The late gauge does not fall back to 0 when things get worse.
      expect(gauge(t, "hak_agent_certificate_late", 'output="etcd-server"')).toBe(1);
      expect(gauge(t, "hak_agent_certificate_expired", 'output="etcd-server"')).toBe(1);
      expect(gauge(t, "hak_agent_output_state", 'output="etcd-server",state="expired"')).toBe(1);
      expect(gauge(t, "hak_agent_output_state", 'output="etcd-server",state="late"')).toBe(0);
      const ready = await app.request("/readyz");
      expect(ready.status).toBe(503);
      expect(await ready.text()).toMatch(/etcd-server/);
      // Liveness is about the loop, not Vault: restarting the agent would not bring Vault back.
      expect((await app.request("/healthz")).status).toBe(200);
      await agent.pass(); // no second webhook for the same state
      const server = hooks.filter((h) => h.output === "etcd-server").map((h) => h.state);
      expect(server).toEqual(["late", "expired"]);

      // Vault back; the identity expired with the rest, so the host is enrolled again (a fresh secret ID).
      await lab.startBao();
      let secretId: string | undefined;
      for (let i = 0; i < 50 && !secretId; i++) secretId = await lab.secretIdFor("etcd2").catch(() => sleep(200).then(() => undefined));
      writeFileSync(cfg.auth.secretIdFile, `${secretId}\n`, { mode: 0o600 });
      // (The agent's clock runs past the old notAfter, so the new certificates look short-lived to it; what matters is that they come.)
      const changed = new Set<string>();
      for (let i = 0; i < 20 && changed.size < 2; i++) {
        now += 2_000;
        for (const c of await agent.pass()) changed.add(c);
        if (changed.size < 2) await sleep(300);
      }
      expect([...changed].sort()).toEqual(["etcd-server", "host-identity"]);
      expect(agent.session.method).toBe("approle");
    } finally {
      hook.close();
      await agent.session.close();
      if (!(await lab.root.request("GET", "sys/health").then(() => true, () => false))) await lab.startBao();
    }
  }, 120_000);
});

describe("enrollment hygiene on the host", () => {
  it("an agent whose identity logs in removes a stale secret-ID file it finds", async () => {
    const cfg = cfgs.get("etcd3")!;
    // What an enrollment the agent did not need leaves behind.
    writeFileSync(cfg.auth.secretIdFile, `${await lab.secretIdFor("etcd3")}\n`, { mode: 0o600 });
    const mem = memoryLogger();
    const agent = new Agent(cfg, { log: mem.log });
    try {
      await agent.session.ensure();
      expect(agent.session.method).toBe("cert");
      await agent.pass();
      expect(existsSync(cfg.auth.secretIdFile)).toBe(false);
      expect(await agent.metrics.registry.getSingleMetricAsString("hak_agent_stale_secret_id_removed_total")).toMatch(/ 1$/m);
      expect(mem.lines().some((l) => /stale secret-ID file removed/.test(String(l.msg)))).toBe(true);
    } finally {
      await agent.session.close();
    }
  });

  it("keeps the secret-ID file when there is no valid identity to log in with", async () => {
    const dir = join(lab.dir, "fresh-etcd1");
    const cfg = await hostConfig(lab, "etcd1", dir, [], { secretId: true });
    await lab.stopBao();
    const agent = new Agent(cfg, { log: memoryLogger().log });
    try {
      await agent.pass();
      expect(existsSync(cfg.auth.secretIdFile)).toBe(true);
    } finally {
      await agent.session.close();
      await lab.startBao();
    }
  });
});
