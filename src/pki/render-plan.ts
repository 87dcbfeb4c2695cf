import { describeDiff } from "./diff.js";
import type { Plan } from "./reconcile.js";

/** The plan as a person reads it: changes first, one line each, then a summary. */
export function renderPlan(plan: Plan, o: { cluster: string; verbose: boolean; seconds?: number }): string {
  const lines: string[] = [];
  const verb = plan.applied ? "applied" : "planned (dry run, nothing changed)";
  for (const e of plan.entries) {
    if (e.action === "unchanged" && !o.verbose) continue;
    lines.push(`${e.action.padEnd(9)}  ${e.id}`);
    for (const d of e.diffs) lines.push(`             ${describeDiff(d)}`);
  }
  const c = plan.counts;
  const changed = c.create + c.update + c.delete;
  const took = o.seconds !== undefined ? ` in ${o.seconds.toFixed(2)}s` : "";
  lines.push(
    changed === 0
      ? `cluster ${o.cluster}: no changes; ${c.unchanged} objects already as the inventory wants${took}`
      : `cluster ${o.cluster}: ${verb}: ${c.create} to create, ${c.update} to update, ${c.delete} to delete, ${c.unchanged} unchanged${took}`,
  );
  return lines.join("\n");
}
