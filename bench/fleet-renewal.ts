/**
 * Renewal and serve at fleet size, on one fresh real OpenBao:
 * - renewal: H simulated agents (real AppRole logins from each host's own
 *   loopback source address, real keys and CSRs, the agent's own signCsr)
 *   renewing at once, beside the raw signing rate of the same server in the
 *   same run (the same CSRs, `sign` with a root token, bounded parallel);
 * - the jitter that spreads a fleet's renewals (src/agent/policy.ts);
 * - serve's refresh (listIssued, the reader FleetMonitor runs) with S stored
 *   certificates: cold, with nothing new, and after 1 % new.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { renewalTime } from "../src/agent/policy.js";
import { mapLimit } from "../src/common/async.js";
import { createCsr, generateKeyPair } from "../src/common/certs.js";
import { parseInventory, type Inventory } from "../src/common/inventory.js";
import { freePort, startLocalServer } from "../src/common/localbao.js";
import { approleRoleId, authRoleName } from "../src/common/names.js";
import { requestSpec } from "../src/common/profiles.js";
import { signCsr, celSignPath } from "../src/common/sign.js";
import { VaultClient } from "../src/common/vault.js";
import { listIssued, type IssuedCache } from "../src/pki/issued.js";
import { bootstrap } from "../src/pki/bootstrap.js";
import { countingClient, f, median } from "./fleet-lib.js";

/** Workers on loopback addresses (127.64.0.0/10, used only as source addresses), so AppRole's CIDR bindings hold. */
function loopbackFleet(n: number): Inventory {
  const hosts = [
    { name: "etcd1", role: "etcd", address: "127.63.0.11" },
    { name: "controlplane1", role: "controlplane", address: "127.63.0.21" },
    ...Array.from({ length: n }, (_, i) => ({ name: `worker${i + 1}`, role: "worker", address: `127.${64 + Math.floor(i / 64516)}.${Math.floor(i / 254) % 254}.${(i % 254) + 1}` })),
  ];
  return parseInventory({ name: "renew", hostDomain: "fleet.local", apiVip: "127.63.0.10", serviceCidr: "10.32.0.0/24", podCidr: "10.200.0.0/16", leafTtl: "24h", hosts });
}

export interface RenewalFigures {
  agents: number;
  loginSeconds: number;
  agentSeconds: number;
  rawSeconds: number;
  rawParallel: number;
  histogram: string[];
  serve?: ServeFigures;
}

export interface ServeFigures {
  stored: number;
  runs: { label: string; seconds: number; requests: number; fresh: number; heapMiB: number }[];
}

export async function benchRenewalAndServe(agents: number, serveCerts: number): Promise<RenewalFigures> {
  const stateDir = mkdtempSync(join(tmpdir(), "hak-bench-renew-"));
  const bao = await startLocalServer({ stateDir, port: await freePort(), clusterPort: await freePort() });
  const counted = countingClient(bao);
  const root = counted.client;
  try {
    const inv = loopbackFleet(agents);
    await bootstrap(root, inv, {});
    const workers = inv.hosts.filter((h) => h.role === "worker");
    // Keys and CSRs first: on a real fleet each host makes its own on its own CPU, not on the server's.
    const csrs = await mapLimit(workers, 8, async (h) => {
      const spec = requestSpec(inv, "kubelet-serving", h);
      const kp = await generateKeyPair("ec");
      return { host: h, spec, csr: await createCsr(kp, { commonName: spec.commonName, dns: spec.dns, ip: spec.ip }) };
    });
    // Real sessions: a single-use secret ID per host, an AppRole login from the host's own address.
    const secretIds = await mapLimit(workers, 16, async (h) => (await root.write<{ secret_id: string }>(`auth/approle/role/${authRoleName(h.name)}/secret-id`, {}))!.data!.secret_id);
    let t = performance.now();
    const sessions = await mapLimit(workers, 32, async (h, i) => {
      const c = new VaultClient({ addresses: [bao.address], tls: { ca: bao.caPem }, localAddress: h.address, timeoutMs: 300_000 });
      const res = await c.write("auth/approle/login", { role_id: approleRoleId(inv.name, h.name), secret_id: secretIds[i] }, { token: null });
      c.token = res!.auth!.client_token;
      return c;
    });
    const loginSeconds = (performance.now() - t) / 1000;

    // Every agent renews at once, each on its own connection with its own token: the agent's signCsr.
    t = performance.now();
    await Promise.all(sessions.map((c, i) => signCsr(c, { profile: "kubelet-serving", host: csrs[i]!.host.name, csrPem: csrs[i]!.csr, commonName: csrs[i]!.spec.commonName })));
    const agentSeconds = (performance.now() - t) / 1000;

    // The raw rate: the same CSRs on the same roles, with the root token, bounded parallel on one client.
    const rawParallel = 32;
    const path = (h: string) => celSignPath("kubelet-serving", h);
    t = performance.now();
    await mapLimit(csrs, rawParallel, (x) => root.write(path(x.host.name), { csr: x.csr, common_name: x.spec.commonName, format: "pem", exclude_cn_from_sans: true }));
    const rawSeconds = (performance.now() - t) / 1000;
    await Promise.all(sessions.map((c) => c.close()));

    // The fleet's renewal points, as each agent draws them (default jitter 0.1), for certificates obtained together.
    const nb = new Date("2026-01-01T00:00:00Z");
    const na = new Date(nb.getTime() + 24 * 3600_000);
    const points = workers.map(() => (renewalTime(nb, na, 0.1, Math.random).getTime() - nb.getTime()) / (na.getTime() - nb.getTime()));
    const bins = 12;
    const lo = 2 / 3 - 0.1;
    const hist = new Array<number>(bins).fill(0);
    for (const p of points) hist[Math.min(bins - 1, Math.max(0, Math.floor(((p - lo) / 0.2) * bins)))]!++;
    const max = Math.max(...hist);
    const histogram = hist.map((c, i) => {
      const from = lo + (0.2 * i) / bins;
      return `  ${f(from * 100, 1).padStart(5)}-${f((from + 0.2 / bins) * 100, 1).padStart(5)} % of life (${f(from * 24, 1).padStart(4)} h)  ${String(c).padStart(5)}  ${"#".repeat(Math.round((c / max) * 40))}`;
    });

    let serve: ServeFigures | undefined;
    if (serveCerts > 0) serve = await benchServe(root, counted, inv, csrs[0]!, serveCerts);
    return { agents: workers.length, loginSeconds, agentSeconds, rawSeconds, rawParallel, histogram, serve };
  } finally {
    await root.close();
    await bao.stop();
    rmSync(stateDir, { recursive: true, force: true });
  }
}

async function benchServe(
  root: VaultClient,
  counted: ReturnType<typeof countingClient>,
  inv: Inventory,
  one: { host: { name: string }; spec: { commonName: string }; csr: string },
  target: number,
): Promise<ServeFigures> {
  const hostNames = new Set(inv.hosts.map((h) => h.name));
  const storeUpTo = async (n: number) => {
    const have = (await root.list("pki-kubernetes/certs")).length;
    const todo = Math.max(0, n - have);
    await mapLimit(Array.from({ length: todo }), 32, () => root.write(celSignPath("kubelet-serving", one.host.name), { csr: one.csr, common_name: one.spec.commonName, format: "pem", exclude_cn_from_sans: true }));
  };
  await storeUpTo(target);
  const stored = (await root.list("pki-kubernetes/certs")).length;
  const cache: IssuedCache = new Map();
  const runs: ServeFigures["runs"] = [];
  const heap = () => {
    (globalThis as { gc?: () => void }).gc?.();
    return process.memoryUsage().heapUsed / 2 ** 20;
  };
  const base = heap();
  for (const label of ["cold (every certificate new)", "again, nothing new", "after 1 % new"]) {
    if (label.startsWith("after")) await storeUpTo(stored + Math.round(stored / 100));
    const before = cache.size;
    counted.reset();
    const t = performance.now();
    await listIssued(root, hostNames, cache);
    const seconds = (performance.now() - t) / 1000;
    runs.push({ label, seconds, requests: counted.requests(), fresh: cache.size - before, heapMiB: heap() - base });
  }
  return { stored, runs };
}

export function printRenewal(r: RenewalFigures): void {
  console.log(`\n== renewal: ${r.agents} simulated agents (one process; real AppRole sessions from each host's address, real EC P-256 CSRs) ==`);
  console.log(`  logins (32 at a time, not timed as renewal):  ${f(r.loginSeconds, 2)} s`);
  const agentRate = r.agents / r.agentSeconds;
  const rawRate = r.agents / r.rawSeconds;
  console.log(`  fleet renewing at once (agent signCsr, own token and connection each):  ${f(r.agentSeconds, 2)} s  = ${f(agentRate, 0)} certificates/s`);
  console.log(`  raw signing, same server, same CSRs and roles (root token, ${r.rawParallel} in flight):  ${f(r.rawSeconds, 2)} s  = ${f(rawRate, 0)} certificates/s`);
  console.log(`  ratio fleet / raw: ${f(agentRate / rawRate, 2)}x (goal >= 0.8x)`);
  console.log("  renewal points the agents draw (policy.ts renewalTime, jitter 0.1, 24h certificates obtained together):");
  for (const line of r.histogram) console.log(line);
  if (r.serve) {
    const s = r.serve;
    console.log(`\n== serve refresh (listIssued, as FleetMonitor runs it) with ${s.stored} stored certificates on pki-kubernetes; tidy off ==`);
    console.log("  run                            seconds  requests  parsed  heap(MiB)");
    for (const x of s.runs) console.log(`  ${x.label.padEnd(30)}  ${f(x.seconds, 2).padStart(6)}  ${String(x.requests).padStart(8)}  ${String(x.fresh).padStart(6)}  ${f(x.heapMiB, 1).padStart(9)}`);
    const again = s.runs[1]!;
    const cold = s.runs[0]!;
    const k = 100_000 / s.stored;
    console.log(
      `  extrapolated to 100,000 stored (linear, from these runs): cold ${f(cold.seconds * k, 0)} s, nothing new ${f(again.seconds * k, 1)} s (the LISTs), cache ${f(cold.heapMiB * k, 0)} MiB (${f((cold.heapMiB * 1024) / Math.max(1, cold.fresh), 1)} KiB per certificate)`,
    );
  }
}

export { median };
