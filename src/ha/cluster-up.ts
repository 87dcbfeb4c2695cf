import { spawnSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parse, stringify } from "yaml";
import { binaryPath } from "../common/binaries.js";
import { HakError } from "../common/errors.js";
import { loadInventory } from "../common/inventory.js";
import { freePort } from "../common/localbao.js";
import { PROJECT_ROOT } from "../common/paths.js";
import type { ClusterReport } from "../cluster/cluster.js";
import { kubectl } from "../deploy/kubectl.js";
import { ensureWorkload, rowContext, type RowContext } from "./cluster-rows.js";

/**
 * A local cluster for the HA rows (the test and the benchmark): `npm run
 * demo`'s program (bin/hak-demo.js up) on its own /24, prefix, state folder
 * and free ports, with OpenBao as a 3-node raft cluster (--bao-nodes 3), and
 * the rows' workload applied. The rows themselves only need the context.
 */

export interface HaCluster {
  ctx: RowContext;
  report: ClusterReport;
  /** Stops everything the bring-up started; returns the CLI's exit code and its last lines. */
  stop(): { code: number | null; err: string };
}

function demo(args: string[], timeoutMs: number) {
  const r = spawnSync(process.execPath, [join(PROJECT_ROOT, "bin", "hak-demo.js"), ...args], { encoding: "utf8", timeout: timeoutMs, cwd: PROJECT_ROOT });
  return { code: r.status, out: r.stdout ?? "", err: r.stderr ?? "" };
}

/** The demo topology on `net` (first three octets, e.g. "10.246.0"). */
export function writeHaInventory(file: string, net: string): void {
  const doc = parse(readFileSync(join(PROJECT_ROOT, "examples", "demo-cluster.yaml"), "utf8")) as { apiVip: string; hosts: { address: string }[] };
  doc.apiVip = doc.apiVip.replace("10.240.0.", `${net}.`);
  for (const h of doc.hosts) h.address = h.address.replace("10.240.0.", `${net}.`);
  writeFileSync(file, stringify(doc));
}

export async function upHaCluster(o: { root: string; prefix: string; net: string; say?: (line: string) => void }): Promise<HaCluster> {
  const stateDir = join(o.root, "s");
  const invFile = join(o.root, "inventory.yaml");
  writeHaInventory(invFile, o.net);
  const flags = ["--state-dir", stateDir, "-i", invFile, "--prefix", o.prefix];
  const stop = () => {
    const s = demo(["stop", ...flags], 300_000);
    return { code: s.code, err: s.err.slice(-3000) };
  };
  // Three raft nodes on consecutive ports from a free one (API, cluster, API, ...).
  const up = demo(["up", "--json", "--bao-nodes", "3", "--bao-port", String(await freePort()), "--serve", `127.0.0.1:${await freePort()}`, "--interval", "10s", ...flags], 900_000);
  if (up.code !== 0) {
    stop();
    throw new HakError(`the HA cluster did not come up (exit ${up.code}):\n${up.err.slice(-4000)}`);
  }
  const report = JSON.parse(up.out) as ClusterReport;
  const admin = kubectl(binaryPath("kubectl"), report.adminKubeconfig);
  const ctx = rowContext({ projectRoot: PROJECT_ROOT, stateRoot: stateDir, prefix: o.prefix, inventory: loadInventory(report.inventory), admin, etcdctl: binaryPath("etcdctl"), say: o.say });
  await ensureWorkload(ctx);
  return { ctx, report, stop };
}
