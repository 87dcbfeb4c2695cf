import { describe, expect, it } from "vitest";
import { CLUSTER_ROW_IDS, renewalsIn, type ClusterRowResult } from "../../src/ha/cluster-rows.js";
import { summarize } from "../../src/ha/probe.js";
import { failureTableRows } from "../../src/ha/table.js";

const phase = (functionalMs: number | undefined, failed: number, lastFailure?: string) => ({
  summary: summarize(
    Array.from({ length: 10 }, (_, i) => ({ start: i * 100, end: i * 100 + 5, ok: i >= failed, ...(i < failed ? { error: "no answer within 2000 ms" } : {}) })),
    0,
  ),
  functionalMs,
  renewed: { ok: 3, total: 4, errors: { "w: x": 1 } },
  trail: [],
  ...(lastFailure ? { lastFailure } : {}),
});

describe("the failure table's cluster rows", () => {
  it("a row that ran shows its figures, fault and restore; the others say not run", () => {
    const r: ClusterRowResult = {
      id: "etcd-leader",
      failure: "the etcd leader member (SIGKILL etcd)",
      restoreTitle: "restarted by its supervisor",
      target: "etcd2",
      baseline: summarize([], 0),
      fault: phase(3300, 2),
      restore: phase(undefined, 0, "etcd2 not back yet"),
      notes: ["etcd leader after: etcd3"],
    };
    const rows = failureTableRows([], [r]);
    expect(rows).toHaveLength(CLUSTER_ROW_IDS.length + 1);
    const fault = rows.find((x) => x.failure.includes("[etcd2]"))!;
    expect(fault).toMatchObject({ functional: "3.30 s", failed: "2/10 (20.0%)", renewed: "3/4" });
    expect(fault.notes).toContain("2x no answer within 2000 ms");
    expect(fault.notes).toContain("etcd leader after: etcd3");
    const restore = rows[rows.indexOf(fault) + 1]!;
    expect(restore.functional).toBe("not within the bound (etcd2 not back yet)");
    expect(rows.filter((x) => x.functional.startsWith("not run"))).toHaveLength(CLUSTER_ROW_IDS.length - 1);
  });

  it("renewals count by the phase they started in, errors by host", () => {
    const runs = [
      { host: "a", start: 0, end: 1, ok: true },
      { host: "a", start: 10, end: 11, ok: false, error: "sealed" },
      { host: "b", start: 20, end: 21, ok: true },
    ];
    expect(renewalsIn(runs, 5, 25)).toEqual({ ok: 1, total: 2, errors: { "a: sealed": 1 } });
    expect(renewalsIn(runs, 0)).toMatchObject({ ok: 2, total: 3 });
  });
});
