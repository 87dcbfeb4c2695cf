import { cpus, loadavg, totalmem } from "node:os";
import { renderTable } from "../common/table.js";
import { CLUSTER_ROW_IDS, CLUSTER_ROW_TITLES, type ClusterPhase, type ClusterRowResult } from "./cluster-rows.js";
import type { LbRowResult } from "./rows.js";

/**
 * Issue 12's failure table: every row the issue names, with the figures of
 * the rows that ran and "not run" for the others. Nothing is filled in that
 * was not measured.
 */

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

const share = (f: { failed: number; total: number; share: number }) => `${f.failed}/${f.total} (${(f.share * 100).toFixed(1)}%)`;

function clusterPhaseRow(failure: string, phase: string, p: ClusterPhase, notes: string): TableRow {
  const unserved = p.summary.failed === 0 ? "" : `API unserved ${ms(p.summary.outageMs)}; `;
  const errs = Object.entries(p.summary.errors).map(([e, n]) => `${n}x ${e}`).join(", ");
  return {
    failure,
    phase,
    functional: p.functionalMs === undefined ? `not within the bound (${p.lastFailure ?? "?"})` : ms(p.functionalMs),
    failed: share(p.summary),
    renewed: `${p.renewed.ok}/${p.renewed.total}`,
    notes: `${unserved}${errs}${errs && notes ? "; " : ""}${notes}`,
  };
}

/** The table's lines: the load-balancer rows, then every cluster row (measured, or "not run"). */
export function failureTableRows(lb: readonly LbRowResult[], cluster: readonly ClusterRowResult[] = []): TableRow[] {
  const rows: TableRow[] = [];
  for (const r of lb) {
    const f = r.fault.summary;
    const s = r.restore.summary;
    const moves = (p: LbRowResult["fault"]) => p.vipChanges.map((c) => `${(c.atMs / 1000).toFixed(1)}s:${c.holders.join("+") || "none"}`).join(" ");
    rows.push({
      failure: r.failure,
      phase: "fault",
      functional: f.failed === 0 ? "0 s (no failed call)" : ms(f.recoveryMs),
      failed: share(f),
      // The lab runs no agent: there is nothing that could renew.
      renewed: "n/a (no agent in the LB lab)",
      notes: `VIP ${moves(r.fault) || "stayed"}; served by ${Object.keys(f.servers).sort().join(",") || "none"}`,
    });
    rows.push({
      failure: "  restore",
      phase: "restore",
      functional: s.failed === 0 ? "0 s (no failed call)" : `${ms(s.outageMs)} unserved`,
      failed: share(s),
      renewed: "n/a",
      notes: `VIP ${moves(r.restore) || "stayed"}; served by ${Object.keys(s.servers).sort().join(",") || "none"}`,
    });
  }
  for (const id of CLUSTER_ROW_IDS) {
    const r = cluster.find((x) => x.id === id);
    if (!r) {
      rows.push({ failure: CLUSTER_ROW_TITLES[id], phase: "-", functional: NOT_RUN, failed: "-", renewed: "-", notes: "" });
      continue;
    }
    rows.push(clusterPhaseRow(`${r.failure} [${r.target}]`, "fault", r.fault, r.notes.join("; ")));
    rows.push(clusterPhaseRow(`  ${r.restoreTitle}`, "restore", r.restore, ""));
  }
  return rows;
}

export function renderFailureTable(lb: readonly LbRowResult[], cluster: readonly ClusterRowResult[] = []): string {
  const rows = failureTableRows(lb, cluster);
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
