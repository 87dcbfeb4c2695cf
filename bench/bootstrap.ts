/**
 * How long `hak-pki bootstrap` takes for the demo inventory against a real
 * OpenBao (vault-dev.hcl: TLS, raft), fresh and again. A script, not a test:
 * it prints figures. Run: npm run bench:bootstrap
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadInventory } from "../src/common/inventory.js";
import { freePort, startLocalServer } from "../src/common/localbao.js";
import { bootstrap } from "../src/pki/bootstrap.js";

const runs = Number(process.env.RUNS ?? 3);
const inv = loadInventory(join(import.meta.dirname, "..", "examples", "demo-cluster.yaml"));
const results: { fresh: number; again: number; dry: number; objects: number }[] = [];

for (let i = 0; i < runs; i++) {
  const stateDir = mkdtempSync(join(tmpdir(), "hak-bench-"));
  const bao = await startLocalServer({ stateDir, port: await freePort(), clusterPort: await freePort() });
  const c = bao.client();
  try {
    let t = performance.now();
    const first = await bootstrap(c, inv, { auditFile: join(stateDir, "audit.log") });
    const fresh = (performance.now() - t) / 1000;
    t = performance.now();
    await bootstrap(c, inv, { auditFile: join(stateDir, "audit.log") });
    const again = (performance.now() - t) / 1000;
    t = performance.now();
    await bootstrap(c, inv, { dryRun: true, auditFile: join(stateDir, "audit.log") });
    const dry = (performance.now() - t) / 1000;
    results.push({ fresh, again, dry, objects: first.entries.length });
  } finally {
    await c.close();
    await bao.stop();
    rmSync(stateDir, { recursive: true, force: true });
  }
}

const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
console.log(`demo inventory: ${inv.hosts.length} hosts, ${results[0]!.objects} Vault objects; ${runs} runs on a fresh real OpenBao each`);
console.log(`  bootstrap, fresh server:  median ${med(results.map((r) => r.fresh)).toFixed(2)} s  (runs: ${results.map((r) => r.fresh.toFixed(2)).join(", ")})`);
console.log(`  bootstrap, second run:    median ${med(results.map((r) => r.again)).toFixed(2)} s  (no changes)`);
console.log(`  bootstrap --dry-run:      median ${med(results.map((r) => r.dry)).toFixed(2)} s`);
