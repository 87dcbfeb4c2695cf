import { Counter, Gauge, Registry } from "prom-client";
import { CERT_STATES } from "./fleet.js";
import type { MonitorStats, Snapshot } from "./monitor.js";

/**
 * Prometheus metrics of the fleet, computed from the last snapshot at scrape
 * time. Names follow cert-manager's (certmanager_certificate_expiration_timestamp_seconds)
 * with a hak_fleet_ prefix, so the issuer's view sits next to the agent's
 * hak_certificate_* series of each host; nix/alerts/hak.rules.yml uses both.
 */
export function fleetRegistry(snapshot: () => Snapshot, stats: () => MonitorStats): Registry {
  const registry = new Registry();
  const idLabels = ["cluster", "identity", "host", "profile", "ca"] as const;
  const labelsOf = (s: Snapshot, e: Snapshot["fleet"][number]) => ({
    cluster: s.cluster,
    identity: e.identity,
    host: e.holder.kind === "host" ? e.holder.host : "",
    profile: e.profile,
    ca: e.ca,
  });

  new Gauge({
    name: "hak_fleet_certificate_expiration_timestamp_seconds",
    help: "notAfter of the newest certificate Vault signed for this identity and profile (absent when none was signed)",
    labelNames: idLabels,
    registers: [registry],
    collect() {
      this.reset();
      const s = snapshot();
      for (const e of s.fleet) if (e.expiresAt) this.set(labelsOf(s, e), Date.parse(e.expiresAt) / 1000);
    },
  });
  new Gauge({
    name: "hak_fleet_certificate_renewal_timestamp_seconds",
    help: "When the agent should renew it: 2/3 through the certificate's lifetime",
    labelNames: idLabels,
    registers: [registry],
    collect() {
      this.reset();
      const s = snapshot();
      for (const e of s.fleet) if (e.renewAt) this.set(labelsOf(s, e), Date.parse(e.renewAt) / 1000);
    },
  });
  new Gauge({
    name: "hak_fleet_certificate_state",
    help: "1 for the identity's current state (ok, soon, late, expired, missing), 0 for the others",
    labelNames: [...idLabels, "state"],
    registers: [registry],
    collect() {
      this.reset();
      const s = snapshot();
      for (const e of s.fleet) for (const st of CERT_STATES) this.set({ ...labelsOf(s, e), state: st }, e.state === st ? 1 : 0);
    },
  });
  new Gauge({
    name: "hak_fleet_certificates",
    help: "Expected identity-profile pairs by state",
    labelNames: ["cluster", "state"],
    registers: [registry],
    collect() {
      this.reset();
      const s = snapshot();
      for (const st of CERT_STATES) this.set({ cluster: s.cluster, state: st }, s.counts[st]);
    },
  });
  new Gauge({
    name: "hak_fleet_drift_objects",
    help: "Vault objects that differ from the desired state (bootstrap would change them); absent until checked",
    labelNames: ["cluster"],
    registers: [registry],
    collect() {
      this.reset();
      const s = snapshot();
      if (s.drift) this.set({ cluster: s.cluster }, s.drift.items.length);
    },
  });
  new Gauge({
    name: "hak_fleet_last_refresh_success_timestamp_seconds",
    help: "When serve last read Vault successfully (0: never)",
    labelNames: ["cluster"],
    registers: [registry],
    collect() {
      const s = snapshot();
      this.set({ cluster: s.cluster }, s.lastSuccess ? Date.parse(s.lastSuccess) / 1000 : 0);
    },
  });
  // The monitor keeps the counts; each scrape advances the counter to them.
  const counter = (name: string, help: string, key: keyof MonitorStats) => {
    let seen = 0;
    return new Counter({
      name,
      help,
      registers: [registry],
      collect() {
        const v = stats()[key];
        if (v > seen) this.inc(v - seen);
        seen = v;
      },
    });
  };
  counter("hak_fleet_refresh_errors_total", "Refreshes that could not read Vault", "refreshErrors");
  counter("hak_fleet_alert_transitions_total", "Alert events (firing or resolved) raised", "alertEvents");
  counter("hak_fleet_webhook_deliveries_total", "Webhook payloads the receiver accepted", "webhookDelivered");
  counter("hak_fleet_webhook_failures_total", "Webhook sends that failed after all retries (kept and sent again next refresh unless refused with a 4xx)", "webhookFailed");
  return registry;
}
