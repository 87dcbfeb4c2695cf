import { Command, Option } from "commander";
import type { Logger } from "pino";
import { createLogger } from "../../common/log.js";
import { addInventoryOption, addVaultOptions, exitWith, inventoryFrom, vaultFrom, type InventoryFlags, type VaultFlags } from "../../common/cli.js";
import { parseDuration } from "../../common/duration.js";
import { InputError } from "../../common/errors.js";
import { policyName } from "../../common/names.js";
import type { VaultClient } from "../../common/vault.js";
import { ALERTING_STATES } from "./fleet.js";
import { FleetMonitor } from "./monitor.js";
import { startServe } from "./server.js";

/**
 * `hak-pki serve`: flags to options, then startServe. Runs until SIGINT or
 * SIGTERM. `--once` prints one snapshot (for scripts and cron) and exits 1 when
 * any identity is late, expired or missing.
 */

interface ServeFlags extends VaultFlags, InventoryFlags {
  listen: string;
  interval: string;
  driftEvery: string;
  drift: boolean;
  webhookUrl?: string;
  externalUrl?: string;
  auditFile?: string;
  stateFile?: string;
  once?: boolean;
  agentLog?: string;
}

export function parseListen(text: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(text.trim());
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) throw new InputError(`not HOST:PORT: ${JSON.stringify(text)}`, { where: "--listen", fix: "e.g. 127.0.0.1:8420 or [::1]:8420" });
  return { host: (m[1] ?? m[2])!, port };
}

function positiveSeconds(text: string, flag: string): number {
  const s = parseDuration(text);
  if (s === undefined || s < 1) throw new InputError(`not a duration of at least 1s: ${JSON.stringify(text)}`, { where: flag, fix: 'e.g. "30s" or "5m"' });
  return s;
}

/** serve is meant to hold the auditor policy only; say so when it holds more. */
async function warnIfPrivileged(client: VaultClient, log: Logger): Promise<void> {
  const self = await client.read<{ policies?: string[] }>("auth/token/lookup-self").catch(() => undefined);
  const extra = (self?.policies ?? []).filter((p) => p !== policyName("auditor") && p !== "default");
  if (extra.length > 0)
    log.warn({ policies: self?.policies }, `the Vault token holds more than ${policyName("auditor")} (${extra.join(", ")}); serve needs read-only access only`);
}

export function serveCommand(): Command {
  const cmd = new Command("serve")
    .description("the issuer-side fleet view: page, /api/fleet, /metrics, /healthz, renewal alerts by webhook, drift report (read-only)")
    .option("--listen <host:port>", "where to listen", "127.0.0.1:8420")
    .option("--interval <duration>", "how often to read Vault (and reload the page)", "30s")
    .option("--drift-every <n>", "compare Vault with the desired state every n-th read", "10")
    .option("--no-drift", "never compare with the desired state")
    .addOption(new Option("--webhook-url <url>", "Alertmanager-compatible webhook receiver for late/expired/missing alerts").env("HAK_ALERT_WEBHOOK_URL"))
    .option("--external-url <url>", "URL of this page as people reach it (links in alerts)")
    .option("--audit-file <path>", "the file audit device bootstrap was given, so drift checks it too")
    .option("--state-file <path>", "keep the firing alerts here, so a restart neither fires them again nor forgets to resolve them")
    .option("--agent-log <path>", "where each host's agent logs, {host} for its name (the page's next steps; default: journalctl -u hak-agent)")
    .option("--once", "read once, print the fleet as JSON, exit (1 if anything is late, expired or missing)");
  addInventoryOption(addVaultOptions(cmd));
  cmd.action(async (o: ServeFlags) => {
    const inventory = inventoryFrom(o);
    // serve runs for weeks: it follows edits of the file (a new leafTtl, a new host) without a restart.
    const inventoryFile = o.inventory ?? process.env.HAK_INVENTORY;
    const client = vaultFrom(o);
    const listen = parseListen(o.listen);
    const intervalSeconds = positiveSeconds(o.interval, "--interval");
    const driftEvery = Number(o.driftEvery);
    if (!Number.isInteger(driftEvery) || driftEvery < 1) throw new InputError(`not a positive whole number: ${o.driftEvery}`, { where: "--drift-every" });
    if (o.webhookUrl && !/^https?:\/\//.test(o.webhookUrl)) throw new InputError(`not an http(s) URL: ${o.webhookUrl}`, { where: "--webhook-url" });
    // One time format (ISO) as the agent's; readable lines on a terminal, JSON otherwise.
    const log = createLogger({ name: "hak-pki-serve" });
    const drift = { auditFile: o.auditFile };
    try {
      await warnIfPrivileged(client, log);
      if (o.once) {
        const monitor = new FleetMonitor({ inventory, inventoryFile, client, externalUrl: o.externalUrl ?? "", noDrift: !o.drift, drift, log });
        const s = await monitor.refresh();
        process.stdout.write(`${JSON.stringify(s, null, 2)}\n`);
        if (s.error || s.fleet.some((e) => ALERTING_STATES.includes(e.state))) exitWith(1);
        return;
      }
      const running = await startServe({
        inventory,
        inventoryFile,
        client,
        listen,
        intervalSeconds,
        driftEvery,
        noDrift: !o.drift,
        drift,
        webhookUrl: o.webhookUrl,
        externalUrl: o.externalUrl,
        stateFile: o.stateFile,
        renewTokenSeconds: 3600,
        agentLog: o.agentLog,
        log,
      });
      log.info({ url: running.url, cluster: inventory.name, hosts: inventory.hosts.length, webhook: o.webhookUrl ?? null }, "serving the fleet view");
      process.stderr.write(`hak-pki serve: fleet page at ${running.url}\n`);
      await new Promise<void>((resolve) => {
        const stop = () => resolve();
        process.once("SIGINT", stop);
        process.once("SIGTERM", stop);
      });
      await running.close();
    } finally {
      await client.close();
    }
  });
  return cmd;
}
