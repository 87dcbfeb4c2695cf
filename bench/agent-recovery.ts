/**
 * The 1,000 returning agents question: when Vault comes back after an
 * outage that outlived the renewal point, when does each agent first reach
 * it, and how many arrive in the same second? A script, not a test: it
 * prints figures. Run: npm run bench:recovery
 *
 * Two parts, said plainly in the output:
 * 1. 1,000 agents by the policy's pure schedule (src/agent/policy.ts:
 *    backoffDelay, probeDelay, recoveryDelay, the functions the loop calls),
 *    not 1,000 real sessions: those would need 1,000 TLS logins and key
 *    generations on 2 shared cores, which measures the machine, not the
 *    schedule. Each agent lost Vault at a random time in the outage's first
 *    minute and backs off as the agent does. Histogram of first contacts
 *    after Vault answers, with the probe (today) and without it (the old
 *    loop: the backoff alone) as the anchor.
 * 2. A real sample: N agents in this process (real Agent objects, real
 *    sessions, real OpenBao with TLS and raft), Vault stopped past their
 *    renewal point long enough for the backoff to grow, then started:
 *    first contact (the first request other than the health probe) and
 *    renewal complete, per agent; and OpenBao's sign rate here, to say what
 *    a 1,000-agent burst would ask of it.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { setMaxListeners } from "node:events";
import { setTimeout as sleep } from "node:timers/promises";
import { pino } from "pino";
import { parseInventory } from "../src/common/inventory.js";
import { approleRoleId } from "../src/common/names.js";
import { requestSpec } from "../src/common/profiles.js";
import { findHost } from "../src/common/inventory.js";
import { Agent } from "../src/agent/agent.js";
import { parseAgentConfig, type AgentConfig } from "../src/agent/config.js";
import { vaultOperation } from "../src/agent/metrics.js";
import { backoffDelay, probeDelay, recoveryDelay } from "../src/agent/policy.js";
import { signProfile } from "../src/pki/issue.js";
import { startLab } from "../test/agent/fixture.js";
import { seededRandom } from "../test/helpers/random.js"; // seeded: two runs print the same part 1

const FLEET = Number(process.env.FLEET ?? 1000);
const OUTAGE_S = Number(process.env.OUTAGE_S ?? 300);
const SAMPLE = Number(process.env.SAMPLE ?? 12);
const BACKOFF = { min: 1, max: 300 }; // the config defaults
const PROBE_S = 2;
const SPREAD_S = 3;

/** Seconds after Vault answers (t = 0) of one agent's first contact; the outage ran from -OUTAGE_S. */
function firstContact(random: () => number, probe: boolean): number {
  const lost = -OUTAGE_S + random() * 60;
  // Backoff attempts from the moment the agent noticed.
  let t = lost;
  let attempt = 0;
  while (t < 0) t += backoffDelay(attempt++, BACKOFF, random) / 1000;
  const backoffRetry = t;
  if (!probe) return backoffRetry;
  // Probes run from the first failure on, each 0.5-1.5 intervals after the last.
  let p = lost;
  while (p < 0) p += probeDelay(PROBE_S, random) / 1000;
  return Math.min(backoffRetry, p + recoveryDelay(SPREAD_S, random) / 1000);
}

function histogram(times: number[], bin: number, upTo: number): string {
  const bins = new Array<number>(Math.ceil(upTo / bin)).fill(0);
  let later = 0;
  for (const t of times) {
    const i = Math.floor(t / bin);
    if (i < bins.length) bins[i]!++;
    else later++;
  }
  const peak = Math.max(...bins, 1);
  const rows = bins.map((n, i) => `  ${String(i * bin).padStart(4)}-${String((i + 1) * bin).padEnd(4)}s ${String(n).padStart(5)} ${"#".repeat(Math.round((n / peak) * 50))}`);
  if (later) rows.push(`  later     ${String(later).padStart(5)}`);
  return rows.join("\n");
}

function quantile(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
}

function part1(): { peakPerSecond: number } {
  console.log(`\n== 1. ${FLEET} agents by the policy's pure schedule (not real sessions); outage ${OUTAGE_S}s; backoff ${BACKOFF.min}s..${BACKOFF.max}s; probe ${PROBE_S}s, spread ${SPREAD_S}s`);
  const r = seededRandom(42);
  const withProbe = Array.from({ length: FLEET }, () => firstContact(r, true));
  const r2 = seededRandom(42);
  const without = Array.from({ length: FLEET }, () => firstContact(r2, false));
  const perSecond = (xs: number[]) => {
    const m = new Map<number, number>();
    for (const x of xs) m.set(Math.floor(x), (m.get(Math.floor(x)) ?? 0) + 1);
    return Math.max(...m.values());
  };
  const row = (name: string, xs: number[]) =>
    `  ${name.padEnd(22)} median ${quantile(xs, 0.5).toFixed(1)}s  p99 ${quantile(xs, 0.99).toFixed(1)}s  max ${Math.max(...xs).toFixed(1)}s  peak ${perSecond(xs)} agents in one second`;
  console.log(row("probe + spread (now)", withProbe));
  console.log(row("backoff alone (before)", without));
  console.log(`  ratio before/now: median ${(quantile(without, 0.5) / quantile(withProbe, 0.5)).toFixed(0)}x, max ${(Math.max(...without) / Math.max(...withProbe)).toFixed(0)}x`);
  console.log("  first contacts after Vault answers, probe + spread, 0.5 s bins:");
  console.log(histogram(withProbe, 0.5, PROBE_S * 1.5 + SPREAD_S + 0.5));
  return { peakPerSecond: perSecond(withProbe) };
}

async function part2(peakPerSecond: number): Promise<void> {
  console.log(`\n== 2. a real sample: ${SAMPLE} agents in this process, real sessions, real OpenBao (TLS, raft)`);
  const hosts = Array.from({ length: SAMPLE }, (_, i) => ({ name: `worker${i + 1}`, role: "worker" as const, address: `127.0.34.${31 + i}` }));
  const inv = parseInventory({
    name: "rcvbench",
    hostDomain: "k8s.local",
    apiVip: "127.0.34.10",
    serviceCidr: "10.32.0.0/24",
    podCidr: "10.200.0.0/16",
    leafTtl: "1h",
    hosts: [
      { name: "etcd1", role: "etcd", address: "127.0.34.11" },
      { name: "etcd2", role: "etcd", address: "127.0.34.12" },
      { name: "etcd3", role: "etcd", address: "127.0.34.13" },
      { name: "controlplane1", role: "controlplane", address: "127.0.34.21" },
      ...hosts,
    ],
  });
  const lab = await startLab(inv);
  const log = pino({ level: "silent" });
  try {
    // OpenBao's sign rate here, the anchor for what a burst asks of it.
    const n = 40;
    let t = performance.now();
    await Promise.all(Array.from({ length: n }, () => signProfile(lab.root, inv, { profile: "kubelet", host: "worker1" })));
    const signRate = n / ((performance.now() - t) / 1000);
    const cfgs: AgentConfig[] = [];
    for (const h of hosts) {
      const dir = join(lab.dir, h.name);
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, "secret-id"), `${await lab.secretIdFor(h.name)}\n`, { mode: 0o600 });
      const spec = requestSpec(inv, "host-identity", findHost(inv, h.name)!);
      const kspec = requestSpec(inv, "kubelet", findHost(inv, h.name)!);
      const cfg = parseAgentConfig({
        host: h.name,
        vault: { addresses: [lab.bao.address], caFile: lab.bao.caFile, sourceAddress: h.address, timeout: "5s" },
        auth: { roleId: approleRoleId(inv.name, h.name), secretIdFile: join(dir, "secret-id") },
        renewal: { probeInterval: `${PROBE_S}s`, recoverySpread: `${SPREAD_S}s`, backoffMin: "2s" },
        outputs: [
          { type: "certificate", name: "host-identity", profile: "host-identity", commonName: spec.commonName, dns: spec.dns, ip: spec.ip, certFile: join(dir, "id.crt"), keyFile: join(dir, "id.key") },
          { type: "certificate", name: "kubelet", profile: "kubelet", commonName: kspec.commonName, dns: kspec.dns, ip: kspec.ip, certFile: join(dir, "kubelet.crt"), keyFile: join(dir, "kubelet.key") },
        ],
      });
      if (!(await new Agent(cfg, { log }).once())) throw new Error(`${h.name}: first start failed`);
      cfgs.push(cfg);
    }
    await lab.stopBao();
    const offset = 47 * 60_000; // past every renewal point
    let answering = Infinity;
    const first = new Map<string, number>();
    const done = new Map<string, number>();
    const agents = cfgs.map(
      (cfg) =>
        new Agent(cfg, {
          log,
          now: () => Date.now() + offset,
          onVaultRequest: (ev) => {
            if (Date.now() < answering || vaultOperation(ev.path) === "health" || first.has(cfg.host)) return;
            first.set(cfg.host, Date.now());
          },
        }),
    );
    const ac = new AbortController();
    setMaxListeners(0, ac.signal); // one listener per agent loop
    const loops = agents.map((a) => a.run(ac.signal));
    t = Date.now();
    const outage = Number(process.env.SAMPLE_OUTAGE_S ?? 40);
    await sleep(outage * 1000);
    const waits = agents.flatMap((a) => a.status().map((s) => (s.retryAt ? (Date.parse(s.retryAt) - offset - Date.now()) / 1000 : 0)));
    await lab.startBao();
    answering = Date.now();
    while (done.size < agents.length && Date.now() - answering < 60_000) {
      for (const a of agents) if (!done.has(a.cfg.host) && a.status().every((s) => s.health === "valid" && !s.reason)) done.set(a.cfg.host, Date.now());
      await sleep(50);
    }
    ac.abort();
    await Promise.all(loops);
    const f = [...first.values()].map((x) => (x - answering) / 1000);
    const d = [...done.values()].map((x) => (x - answering) / 1000);
    console.log(
      `  outage ${outage}s, then Vault started (its start took ${((answering - t - outage * 1000) / 1000).toFixed(1)}s); the backoff had ${Math.min(...waits).toFixed(0)}-${Math.max(...waits).toFixed(0)}s left; ` +
        `${done.size}/${agents.length} agents renewed both certificates`,
    );
    console.log(`  first contact after Vault answered: median ${quantile(f, 0.5).toFixed(2)}s, max ${Math.max(...f).toFixed(2)}s`);
    console.log(`  renewal complete:                   median ${quantile(d, 0.5).toFixed(2)}s, max ${Math.max(...d).toFixed(2)}s`);
    console.log(histogram(f, 0.5, PROBE_S * 1.5 + SPREAD_S + 0.5));
    console.log(`\n== what 1,000 agents would ask of this OpenBao`);
    console.log(`  OpenBao here signs ${signRate.toFixed(0)} certificates/s (${n} parallel kubelet signs, root token, 2 shared cores)`);
    for (const certs of [2, 5]) {
      const signsPerSecond = peakPerSecond * certs;
      const spreadNeeded = (FLEET * certs) / signRate - PROBE_S * 1.5;
      console.log(
        `  ${certs} certificates per agent: part 1's peak of ${peakPerSecond} agents/s asks ${signsPerSecond} signatures/s, ${(signsPerSecond / signRate).toFixed(1)}x this sign rate ` +
          `(the excess queues: latency, nothing lost); recoverySpread ${Math.max(0, spreadNeeded).toFixed(0)}s would keep ${FLEET} agents under it`,
      );
    }
  } finally {
    await lab.cleanup();
  }
}

const { peakPerSecond } = part1();
if (process.env.PART1_ONLY !== "1") await part2(peakPerSecond);
