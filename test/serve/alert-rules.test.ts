import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parse } from "yaml";
import { describe, expect, it } from "vitest";
import { PROJECT_ROOT } from "../../src/common/paths.js";
import { AgentMetrics } from "../../src/agent/metrics.js";
import { computeFleet, countByState } from "../../src/pki/serve/fleet.js";
import { fleetRegistry } from "../../src/pki/serve/metrics.js";
import type { Snapshot } from "../../src/pki/serve/monitor.js";
import { smallInventory } from "./fixtures.js";

interface Rule {
  alert: string;
  expr: string;
  for?: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
}

const doc = parse(readFileSync(join(PROJECT_ROOT, "nix", "alerts", "hak.rules.yml"), "utf8")) as { groups: { name: string; rules: Rule[] }[] };
const rules = doc.groups.flatMap((g) => g.rules);

describe("nix/alerts/hak.rules.yml", () => {
  it("has well-formed rules: unique names, severity, summary, balanced expressions", () => {
    expect(doc.groups.map((g) => g.name)).toEqual(["hak-agent", "hak-fleet"]);
    expect(new Set(rules.map((r) => r.alert)).size).toBe(rules.length);
    for (const r of rules) {
      expect(r.alert, JSON.stringify(r)).toMatch(/^Hak[A-Za-z0-9]+$/);
      expect(["warning", "critical"], r.alert).toContain(r.labels.severity);
      expect(r.annotations.summary, r.alert).toBeTruthy();
      let depth = 0;
      for (const ch of r.expr) {
        depth += ch === "(" || ch === "{" || ch === "[" ? 1 : ch === ")" || ch === "}" || ch === "]" ? -1 : 0;
        expect(depth, r.alert).toBeGreaterThanOrEqual(0);
      }
      expect(depth, r.alert).toBe(0);
      if (r.for) expect(r.for, r.alert).toMatch(/^\d+[smh]$/);
    }
  });

  it("uses only metrics hak-agent exports (src/agent/metrics.ts), with its output label", async () => {
    const agentRules = doc.groups.find((g) => g.name === "hak-agent")!.rules;
    const used = new Set(agentRules.flatMap((r) => [...r.expr.matchAll(/\bhak_[a-z_]+/g)].map((m) => m[0])));
    const m = new AgentMetrics();
    m.late.set({ output: "etcd-server" }, 0);
    const exported = new Set([...(await m.registry.metrics()).matchAll(/^# TYPE (\S+) /gm)].map((x) => x[1]!));
    expect(used.size).toBeGreaterThan(2);
    for (const name of used) expect(exported, name).toContain(name);
    for (const r of agentRules) expect(JSON.stringify(r.annotations), r.alert).not.toMatch(/\$labels\.name\b/);
  });

  it("uses only fleet metrics that hak-pki serve exports, with their labels", async () => {
    const inv = smallInventory();
    const fleet = computeFleet(inv, [], new Date());
    const snap: Snapshot = {
      cluster: inv.name,
      generatedAt: new Date().toISOString(),
      lastSuccess: new Date().toISOString(),
      fleet,
      counts: countByState(fleet),
      alerts: [],
      drift: { checkedAt: new Date().toISOString(), items: [], compared: 0 },
    };
    const text = await fleetRegistry(() => snap, () => ({ refreshes: 0, refreshErrors: 0, webhookDelivered: 0, webhookFailed: 0, alertEvents: 0 })).metrics();
    const exported = new Set([...text.matchAll(/^# TYPE (\S+) /gm)].map((m) => m[1]!));
    const used = new Set(rules.flatMap((r) => [...r.expr.matchAll(/\bhak_fleet_[a-z_]+/g)].map((m) => m[0])));
    expect(used.size).toBeGreaterThan(3);
    for (const name of used) expect(exported, name).toContain(name);
    // Labels the annotations template must be labels of the series.
    for (const r of rules.filter((x) => x.expr.includes("hak_fleet_certificate_state"))) {
      for (const m of JSON.stringify(r.annotations).matchAll(/\$labels\.([a-z_]+)/g)) expect(text, `${r.alert}: ${m[1]}`).toMatch(new RegExp(`hak_fleet_certificate_state\\{[^}]*\\b${m[1]}="`));
    }
  });
});
