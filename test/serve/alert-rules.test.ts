import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { parse, stringify } from "yaml";
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

/**
 * The rules evaluated by Prometheus' own engine (`promtool test rules`, from
 * the Debian package prometheus that scripts/setup.sh installs): one
 * certificate goes ok -> late (minute 10) -> expired (minute 30), as the
 * agent reports it (its late gauge stays 1 once expired) and as serve does
 * (the state label moves from late to expired). Late fires and keeps firing;
 * expired fires from expiry on, as long as it lasts.
 */
describe("nix/alerts/hak.rules.yml under promtool: late -> expired never goes quiet", () => {
  it("fires late from the late point on, and expired from notAfter on, both while it lasts", async () => {
    const agentLabels = { instance: "etcd1:9180", job: "hak-agent", output: "etcd-server" };
    const fleetLabels = { cluster: "demo", identity: "etcd1", profile: "etcd-server", ca: "etcd", host: "etcd1", role: "etcd" };
    const sel = (name: string, l: Record<string, string>) => `${name}{${Object.entries(l).map(([k, v]) => `${k}="${v}"`).join(",")}}`;
    const expand = (text: string, l: Record<string, string>) => text.replace(/\{\{ \$labels\.([a-z_]+) \}\}/g, (_m, k: string) => l[k] ?? "");
    const expect1 = (alert: string, l: Record<string, string>) => {
      const r = rules.find((x) => x.alert === alert)!;
      return {
        exp_labels: { ...l, ...r.labels },
        exp_annotations: Object.fromEntries(Object.entries(r.annotations).map(([k, v]) => [k, expand(v, l)])),
      };
    };
    const at = (minute: number, alert: string, firing: boolean, l: Record<string, string>) => ({
      eval_time: `${minute}m`,
      alertname: alert,
      exp_alerts: firing ? [expect1(alert, l)] : [],
    });
    const doc = {
      rule_files: [join(PROJECT_ROOT, "nix", "alerts", "hak.rules.yml")],
      evaluation_interval: "1m",
      tests: [
        {
          interval: "1m",
          input_series: [
            { series: sel("hak_agent_certificate_late", agentLabels), values: "0x10 1x50" },
            { series: sel("hak_agent_certificate_expired", agentLabels), values: "0x30 1x30" },
            { series: sel("hak_agent_certificate_expiration_timestamp_seconds", agentLabels), values: "1800x60" },
            { series: sel("hak_fleet_certificate_state", { ...fleetLabels, state: "late" }), values: "0x10 1x20 0x30" },
            { series: sel("hak_fleet_certificate_state", { ...fleetLabels, state: "expired" }), values: "0x30 1x30" },
          ],
          alert_rule_test: [
            at(5, "HakAgentCertificateLate", false, agentLabels),
            at(20, "HakAgentCertificateLate", true, agentLabels),
            at(20, "HakAgentCertificateExpired", false, agentLabels),
            // Expired: the late alert does not resolve, the expired one fires at once and stays.
            at(31, "HakAgentCertificateLate", true, agentLabels),
            at(31, "HakAgentCertificateExpired", true, agentLabels),
            at(59, "HakAgentCertificateLate", true, agentLabels),
            at(59, "HakAgentCertificateExpired", true, agentLabels),
            at(20, "HakFleetCertificateLate", true, { ...fleetLabels, state: "late" }),
            at(31, "HakFleetCertificateExpired", true, { ...fleetLabels, state: "expired" }),
            at(59, "HakFleetCertificateExpired", true, { ...fleetLabels, state: "expired" }),
          ],
        },
      ],
    };
    const dir = mkdtempSync(join(tmpdir(), "hak-promtool-"));
    try {
      const file = join(dir, "late-expired.test.yml");
      writeFileSync(file, stringify(doc));
      const res = await promisify(execFile)("promtool", ["test", "rules", file]).catch((err: { stdout?: string; stderr?: string; code?: unknown }) => {
        if (err.code === "ENOENT") throw new Error("promtool not found: install the Debian package prometheus (scripts/setup.sh does)");
        return { stdout: `${err.stdout ?? ""}${err.stderr ?? ""}`, failed: true };
      });
      expect(res.stdout, res.stdout).toMatch(/SUCCESS/);
      expect("failed" in res).toBe(false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
