/**
 * Bootstrap at fleet sizes: a fresh real OpenBao (vault-dev.hcl: TLS, raft)
 * per size; the first run, a second run with no change, and a run after 1 %
 * more hosts were added. Counts every Vault request.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort, startLocalServer } from "../src/common/localbao.js";
import { mapLimit } from "../src/common/async.js";
import type { VaultClient } from "../src/common/vault.js";
import { bootstrap } from "../src/pki/bootstrap.js";
import { RECONCILE_PARALLEL } from "../src/pki/reconcile.js";
import { countingClient, f, fleetInventory } from "./fleet-lib.js";

export interface BootstrapRun {
  label: string;
  seconds: number;
  requests: number;
  objects: number;
  changed: number;
}

export interface BootstrapFigures {
  hosts: number;
  runs: BootstrapRun[];
  topRequests: [string, number][];
  /** The same server's rate of identity-store writes (entities), 16 in flight: the anchor that bounds bootstrap. */
  identityWritesPerSecond: number;
  /** ... and of plain role writes, 16 in flight. */
  roleWritesPerSecond: number;
}

/** Writes per second of one kind on this server, `n` of them, 16 in flight, on scratch names. */
async function writeRate(client: VaultClient, n: number, path: (i: number) => string, body: Record<string, unknown>): Promise<number> {
  const t = performance.now();
  await mapLimit(Array.from({ length: n }, (_, i) => i), RECONCILE_PARALLEL, (i) => client.write(path(i), body));
  return n / ((performance.now() - t) / 1000);
}

/** Sizes above this run only the fresh bootstrap (the repeat runs read every object again: long on a loaded machine). */
const REPEAT_MAX = Number(process.env.FLEET_REPEAT_MAX ?? 1000);

export async function benchBootstrap(n: number): Promise<BootstrapFigures> {
  const stateDir = mkdtempSync(join(tmpdir(), "hak-bench-fleet-"));
  const bao = await startLocalServer({ stateDir, port: await freePort(), clusterPort: await freePort() });
  const counted = countingClient(bao);
  const runs: BootstrapRun[] = [];
  let topRequests: [string, number][] = [];
  let identityWritesPerSecond = 0;
  let roleWritesPerSecond = 0;
  try {
    const inv = fleetInventory(n);
    const added = Math.max(1, Math.round(n / 100));
    const grown = fleetInventory(n + added);
    for (const [label, which] of [
      ["fresh", inv],
      ["again, no change", inv],
      [`+${added} hosts`, grown],
    ] as const) {
      if (label !== "fresh" && n > REPEAT_MAX) continue;
      counted.reset();
      const t = performance.now();
      const p = await bootstrap(counted.client, which, {});
      const seconds = (performance.now() - t) / 1000;
      runs.push({ label, seconds, requests: counted.requests(), objects: p.entries.length, changed: p.entries.length - p.counts.unchanged });
      if (label === "fresh") topRequests = [...counted.byPath()].sort((a, b) => b[1] - a[1]).slice(0, 12);
    }
    identityWritesPerSecond = await writeRate(counted.client, 300, (i) => `identity/entity/name/bench-anchor-${i}`, { metadata: { a: "b" }, policies: [] });
    roleWritesPerSecond = await writeRate(counted.client, 300, (i) => `auth/approle/role/bench-anchor-${i}`, { token_policies: ["x"], secret_id_num_uses: 1 });
  } finally {
    await counted.client.close();
    await bao.stop();
    rmSync(stateDir, { recursive: true, force: true });
  }
  return { hosts: n, runs, topRequests, identityWritesPerSecond, roleWritesPerSecond };
}

export function printBootstrap(rows: BootstrapFigures[]): void {
  console.log("\n== bootstrap (hak-pki bootstrap against a fresh real OpenBao per size: TLS, raft, one node) ==");
  console.log("hosts   run                 seconds  ms/host  objects  changed  requests  req/host  req/changed");
  for (const r of rows) {
    for (const x of r.runs) {
      console.log(
        `${String(r.hosts).padStart(6)}  ${x.label.padEnd(18)}  ${f(x.seconds, 2).padStart(7)}  ${f((x.seconds * 1000) / r.hosts, 2).padStart(7)}  ${String(x.objects).padStart(7)}  ${String(x.changed).padStart(7)}  ${String(x.requests).padStart(8)}  ${f(x.requests / r.hosts, 2).padStart(8)}  ${x.changed ? f(x.requests / x.changed, 2).padStart(11) : "-".padStart(11)}`,
      );
    }
  }
  console.log("anchors, same server right after its runs (16 in flight): identity-store writes/s and role writes/s; floor = 3 identity writes per host (entity + 2 aliases) at that rate");
  for (const r of rows) {
    const floor = (3 * r.hosts) / r.identityWritesPerSecond;
    console.log(`${String(r.hosts).padStart(6)}  entity writes ${f(r.identityWritesPerSecond, 0)}/s, role writes ${f(r.roleWritesPerSecond, 0)}/s; identity floor ${f(floor, 1)} s; fresh run / floor ${f(r.runs[0]!.seconds / floor, 2)}x`);
  }
  const goal = (n: number, s: number) => rows.find((r) => r.hosts === n) && `${n} hosts fresh: ${f(rows.find((r) => r.hosts === n)!.runs[0]!.seconds, 1)} s (goal ${s} s, ${f(rows.find((r) => r.hosts === n)!.runs[0]!.seconds / s, 2)}x of it)`;
  for (const g of [goal(1000, 10), goal(10000, 100)]) if (g) console.log(g);
  const last = rows.at(-1);
  if (last) {
    console.log(`requests of the fresh run at ${last.hosts} hosts, by path (host names folded):`);
    for (const [k, v] of last.topRequests) console.log(`  ${String(v).padStart(7)}  ${k}`);
  }
}
