/**
 * Issue 12's failure table with the figures of one run. A script, not a
 * test: it prints what it measured. The load-balancer rows run in the lab of
 * src/ha/lab.ts (the plan's keepalived and haproxy in network namespaces,
 * stand-in apiservers behind them); the rows that need the local cluster are
 * printed as not run. Root only (network namespaces).
 *
 * Run: npm run bench:ha   (HAK_HA_SUBNET=10.242.0.0/24 to move the lab off 10.241.0.0/24;
 * HAK_HA_WINDOW_MS: how long each phase is watched, default 10000)
 */
import { haproxyVersion, keepalivedVersion, LbLab } from "../src/ha/lab.js";
import { LB_ROW_IDS, runLbRow, type LbRowResult } from "../src/ha/rows.js";
import { machineLine, renderFailureTable } from "../src/ha/table.js";

const windowMs = Number(process.env.HAK_HA_WINDOW_MS ?? 10_000);
const results: LbRowResult[] = [];
const started = new Date();
const lab = LbLab.create();
let code = 0;
try {
  await lab.startAll();
  if (!(await lab.waitVip("loadbalancer1", 15_000))) throw new Error(`the VIP did not settle on loadbalancer1: ${lab.vipHolders().join(", ") || "nowhere"}`);
  for (const id of LB_ROW_IDS) {
    process.stderr.write(`row ${id} ...\n`);
    results.push(await runLbRow(lab, id, { windowMs }));
  }
} catch (err) {
  process.stderr.write(`bench:ha stopped: ${err instanceof Error ? err.message : String(err)}\n`);
  code = 1;
} finally {
  lab.stop();
}
console.log(`hak failure table, ${started.toISOString()}; ${machineLine()}`);
console.log(`${haproxyVersion()}; ${keepalivedVersion()}; client: GET https://${lab.vip}:${lab.port}/version every 100 ms, a new connection each, 2 s timeout; each phase watched ${windowMs / 1000} s`);
console.log("");
console.log(renderFailureTable(results));
console.log("");
console.log("time until functional: from the injection to the first call served after the last failed one (restore: how long the client went unserved).");
console.log("The apiservers of the load-balancer rows are stand-ins (TLS /readyz and /version), not kube-apiserver.");
process.exit(code);
