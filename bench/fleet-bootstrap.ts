/**
 * Bootstrap at fleet sizes: a fresh real OpenBao (vault-dev.hcl: TLS, raft)
 * per size; the first run, a second run with no change, and a run after 1 %
 * more hosts were added. Counts every Vault request.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort, startLocalServer } from "../src/common/localbao.js";
import { bootstrap } from "../src/pki/bootstrap.js";
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
}

export async function benchBootstrap(n: number): Promise<BootstrapFigures> {
  const stateDir = mkdtempSync(join(tmpdir(), "hak-bench-fleet-"));
  const bao = await startLocalServer({ stateDir, port: await freePort(), clusterPort: await freePort() });
  const counted = countingClient(bao);
  const runs: BootstrapRun[] = [];
  let topRequests: [string, number][] = [];
  try {
    const inv = fleetInventory(n);
    const added = Math.max(1, Math.round(n / 100));
    const grown = fleetInventory(n + added);
    for (const [label, which] of [
      ["fresh", inv],
      ["again, no change", inv],
      [`+${added} hosts`, grown],
    ] as const) {
      counted.reset();
      const t = performance.now();
      const p = await bootstrap(counted.client, which, {});
      const seconds = (performance.now() - t) / 1000;
      runs.push({ label, seconds, requests: counted.requests(), objects: p.entries.length, changed: p.entries.length - p.counts.unchanged });
      if (label === "fresh") topRequests = [...counted.byPath()].sort((a, b) => b[1] - a[1]).slice(0, 12);
    }
  } finally {
    await counted.client.close();
    await bao.stop();
    rmSync(stateDir, { recursive: true, force: true });
  }
  return { hosts: n, runs, topRequests };
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
  const goal = (n: number, s: number) => rows.find((r) => r.hosts === n) && `${n} hosts fresh: ${f(rows.find((r) => r.hosts === n)!.runs[0]!.seconds, 1)} s (goal ${s} s, ${f(rows.find((r) => r.hosts === n)!.runs[0]!.seconds / s, 2)}x of it)`;
  for (const g of [goal(1000, 10), goal(10000, 100)]) if (g) console.log(g);
  const last = rows.at(-1);
  if (last) {
    console.log(`requests of the fresh run at ${last.hosts} hosts, by path (host names folded):`);
    for (const [k, v] of last.topRequests) console.log(`  ${String(v).padStart(7)}  ${k}`);
  }
}
