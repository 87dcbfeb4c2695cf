import { Counter, Gauge, Registry } from "prom-client";
import type { VaultRequestEvent } from "../common/vault.js";

/**
 * The agent's Prometheus metrics, named in cert-manager's style
 * (certmanager_certificate_expiration_timestamp_seconds and friends) under
 * `hak_agent_`. One registry per agent, so tests can run several agents in
 * one process.
 */
export class AgentMetrics {
  readonly registry = new Registry();
  readonly expiration = this.gauge("hak_agent_certificate_expiration_timestamp_seconds", "notAfter of the certificate on disk", ["output"]);
  readonly renewal = this.gauge("hak_agent_certificate_renewal_timestamp_seconds", "When the agent will renew the certificate on disk", ["output"]);
  readonly ready = this.gauge("hak_agent_output_ready_status", "1 when the output is present and valid, per condition", ["output", "condition"]);
  readonly late = this.gauge(
    "hak_agent_certificate_late",
    "1 when the certificate on disk was not renewed in time: in its last sixth of life, or already expired (so an alert on it stays on)",
    ["output"],
  );
  readonly expired = this.gauge("hak_agent_certificate_expired", "1 when the certificate on disk is past its notAfter", ["output"]);
  readonly state = this.gauge(
    "hak_agent_output_state",
    "1 for the output's current state (valid, late, expired, invalid, missing), 0 for the others",
    ["output", "state"],
  );
  readonly probes = this.counter("hak_agent_vault_probes_total", "Health probes of Vault while outputs wait on it (result up/down)", ["result"]);
  readonly staleSecretIds = this.counter("hak_agent_stale_secret_id_removed_total", "Secret-ID files removed because the host identity made them unnecessary", []);
  readonly unwritten = this.gauge("hak_agent_certificate_unwritten", "1 while a signed certificate that could not be written is held in memory for the next write", ["output"]);
  readonly issued = this.counter("hak_agent_certificates_issued_total", "Certificates obtained from Vault", ["output"]);
  readonly outputWrites = this.counter("hak_agent_output_writes_total", "Outputs written to disk", ["output"]);
  readonly renewalFailures = this.counter("hak_agent_output_failures_total", "Failed attempts to obtain or write an output", ["output"]);
  readonly vaultRequests = this.counter("hak_agent_vault_requests_total", "Requests to Vault", ["operation", "status"]);
  readonly vaultFailures = this.counter("hak_agent_vault_request_failures_total", "Requests to Vault that failed (no answer or an error status)", ["operation"]);
  readonly logins = this.counter("hak_agent_vault_logins_total", "Logins to Vault by method and result", ["method", "result"]);
  readonly tokenExpiration = this.gauge("hak_agent_vault_token_expiration_timestamp_seconds", "When the agent's Vault token expires");
  readonly actions = this.counter("hak_agent_action_runs_total", "Actions run after outputs changed", ["action", "result"]);
  readonly webhooks = this.counter("hak_agent_late_webhook_total", "Late- and expired-certificate webhook calls", ["result"]);

  private gauge<L extends string>(name: string, help: string, labelNames: L[] = []) {
    return new Gauge<L>({ name, help, labelNames, registers: [this.registry] });
  }

  private counter<L extends string>(name: string, help: string, labelNames: L[]) {
    return new Counter<L>({ name, help, labelNames, registers: [this.registry] });
  }

  /** VaultClient's onRequest hook: counts by operation, never by full path (bounded label set). */
  onVaultRequest = (ev: VaultRequestEvent): void => {
    const operation = vaultOperation(ev.path);
    this.vaultRequests.inc({ operation, status: ev.status === undefined ? "none" : String(ev.status) });
    if (!ev.ok) this.vaultFailures.inc({ operation });
  };
}

export function vaultOperation(path: string): string {
  if (/^auth\/.+\/login$/.test(path)) return "login";
  if (path === "auth/token/renew-self") return "token_renew";
  if (path === "auth/token/lookup-self") return "token_lookup";
  if (/\/(cel\/)?sign\//.test(path)) return "sign";
  if (/\/data\//.test(path)) return "kv_read";
  if (path.startsWith("sys/health")) return "health";
  return "other";
}
