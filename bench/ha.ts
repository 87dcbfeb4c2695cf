/**
 * Issue 12's failure table with the figures of one run. A script, not a
 * test: it prints what it measured. The load-balancer rows run in the lab of
 * src/ha/lab.ts (the plan's keepalived and haproxy in network namespaces,
 * stand-in apiservers behind them); the cluster rows on a local cluster of
 * their own (src/ha/cluster-up.ts: the demo's program, OpenBao as 3 raft
 * nodes), brought up after the lab is gone and stopped at the end. Root only.
 *
 * Run: npm run bench:ha   (HAK_HA_SUBNET=10.242.0.0/24 to move the lab off 10.241.0.0/24;
 * HAK_HA_WINDOW_MS: how long each lab phase is watched, default 10000;
 * the cluster on 10.247.0.0/24 with prefix hakc, HAK_HA_BENCH_NET / HAK_HA_BENCH_PREFIX move it;
 * HAK_HA_CLUSTER=0 skips the cluster rows)
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CLUSTER_ROW_IDS, runClusterRow, type ClusterRowResult } from "../src/ha/cluster-rows.js";
import { upHaCluster } from "../src/ha/cluster-up.js";
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
const clusterResults: ClusterRowResult[] = [];
let clusterLine = "cluster rows: not run (HAK_HA_CLUSTER=0)";
if (process.env.HAK_HA_CLUSTER !== "0") {
  const root = mkdtempSync(join(tmpdir(), "hak-ha-bench-"));
  const say = (l: string) => process.stderr.write(`${new Date().toISOString().slice(11, 19)} ${l}\n`);
  try {
    process.stderr.write("cluster rows: bringing up a local cluster (3 OpenBao raft nodes) ...\n");
    const cluster = await upHaCluster({ root, prefix: process.env.HAK_HA_BENCH_PREFIX || "hakc", net: process.env.HAK_HA_BENCH_NET || "10.247.0", say });
    clusterLine = `cluster rows: local cluster up in ${cluster.report.seconds.toFixed(1)} s; client: GET ${cluster.ctx.apiUrl}/api/v1/namespaces/default (admin certificate) every 100 ms, a new connection each, 2 s timeout`;
    try {
      for (const id of CLUSTER_ROW_IDS) {
        process.stderr.write(`row ${id} ...\n`);
        try {
          clusterResults.push(await runClusterRow(cluster.ctx, id));
        } catch (err) {
          process.stderr.write(`row ${id} failed: ${err instanceof Error ? err.message : String(err)}\n`);
          code = 1;
        }
      }
    } finally {
      cluster.stop();
    }
  } catch (err) {
    process.stderr.write(`cluster rows stopped: ${err instanceof Error ? err.message : String(err)}\n`);
    code = 1;
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}
console.log(`hak failure table, ${started.toISOString()}; ${machineLine()}`);
console.log(`${haproxyVersion()}; ${keepalivedVersion()}; client: GET https://${lab.vip}:${lab.port}/version every 100 ms, a new connection each, 2 s timeout; each phase watched ${windowMs / 1000} s`);
console.log("");
console.log(clusterLine);
console.log("");
console.log(renderFailureTable(results, clusterResults));
console.log("");
console.log("Load-balancer rows: time until functional = from the injection to the first call served after the last failed one (restore: how long the client went unserved).");
console.log("The apiservers of the load-balancer rows are stand-ins (TLS /readyz and /version), not kube-apiserver.");
console.log("Cluster rows: functional = the last 5 calls served, the row's condition (new leader, pods moved), the workload's 2 replicas Ready off the failed host, a new pod Running, and a renewal that began after the check; certs renewed = canary signatures (hak-agent once with a host's own config) ok/run in the phase.");
process.exit(code);
