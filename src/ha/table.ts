import { cpus, loadavg, totalmem } from "node:os";
import { renderTable } from "../common/table.js";
import type { LbRowResult } from "./rows.js";

/**
 * Issue 12's failure table: every row the issue names, with the figures of
 * the rows that ran and "not run" for the others. Nothing is filled in that
 * was not measured.
 */

/** The rows that need the local cluster (src/cluster); none runs in the load-balancer lab. */
export const CLUSTER_ROWS: readonly string[] = [
  "one apiserver (kube-apiserver SIGKILL)",
  "controller manager and scheduler (the leaders)",
  "one etcd member (the leader)",
  "one etcd host",
  "one control-plane host entirely",
  "one worker host (pods rescheduled)",
  "one OpenBao node of 3 (the raft leader), agents renewing",
  "hak-agent on a host",
  "network partition of an etcd host, then heal",
  "network partition of a control-plane host, then heal",
];

const NOT_RUN = "not run (needs the local cluster)";

function ms(v: number | undefined): string {
  return v === undefined ? "not recovered" : `${(v / 1000).toFixed(2)} s`;
}

export interface TableRow {
  failure: string;
  phase: string;
  functional: string;
  failed: string;
  renewed: string;
  notes: string;
}

export function failureTableRows(lb: readonly LbRowResult[]): TableRow[] {
  const rows: TableRow[] = [];
  for (const r of lb) {
    const f = r.fault.summary;
    const s = r.restore.summary;
    const moves = (p: LbRowResult["fault"]) => p.vipChanges.map((c) => `${(c.atMs / 1000).toFixed(1)}s:${c.holders.join("+") || "none"}`).join(" ");
    rows.push({
      failure: r.failure,
      phase: "fault",
      functional: f.failed === 0 ? "0 s (no failed call)" : ms(f.recoveryMs),
      failed: `${f.failed}/${f.total} (${(f.share * 100).toFixed(1)}%)`,
      // The lab runs no agent: there is nothing that could renew.
      renewed: "n/a (no agent in the LB lab)",
      notes: `VIP ${moves(r.fault) || "stayed"}; served by ${Object.keys(f.servers).sort().join(",") || "none"}`,
    });
    rows.push({
      failure: "  restore",
      phase: "restore",
      functional: s.failed === 0 ? "0 s (no failed call)" : `${ms(s.outageMs)} unserved`,
      failed: `${s.failed}/${s.total} (${(s.share * 100).toFixed(1)}%)`,
      renewed: "n/a",
      notes: `VIP ${moves(r.restore) || "stayed"}; served by ${Object.keys(s.servers).sort().join(",") || "none"}`,
    });
  }
  for (const c of CLUSTER_ROWS) rows.push({ failure: c, phase: "-", functional: NOT_RUN, failed: "-", renewed: "-", notes: "" });
  return rows;
}

export function renderFailureTable(lb: readonly LbRowResult[]): string {
  const rows = failureTableRows(lb);
  return renderTable(
    ["FAILURE", "TIME UNTIL FUNCTIONAL", "REQUESTS FAILED", "CERTS RENEWED DURING FAULT", "NOTES"],
    rows.map((r) => [r.failure, r.functional, r.failed, r.renewed, r.notes]),
  );
}

export function machineLine(): string {
  const c = cpus();
  return `machine: ${c.length} cores (${c[0]?.model.trim() ?? "unknown"}), ${(totalmem() / 2 ** 30).toFixed(1)} GiB, load average ${loadavg()
    .map((x) => x.toFixed(1))
    .join(" ")}, node ${process.version}`;
}
