import { Command } from "commander";
import type { Logger } from "pino";
import { createLogger } from "../common/log.js";
import { exitWith, runProgram } from "../common/cli.js";
import { renderTable } from "../common/table.js";
import { Agent, checkOutputs, type OutputStatus } from "./agent.js";
import { loadAgentConfig, type AgentConfig } from "./config.js";
import type { RunningHttp } from "./http.js";
import { sdNotify } from "./notify.js";

/**
 * `hak-agent run|once|check CONFIG`. Logs are pino JSON on stderr (journald
 * keeps one line per event; `msg` reads as a sentence, fields carry output
 * names, serials and reasons, never key material).
 */

export function agentLogger(level = process.env.HAK_LOG_LEVEL ?? "info"): Logger {
  // JSON for journald; readable lines when a person runs it in a terminal (common/log.ts).
  return createLogger({ level, base: { svc: "hak-agent" } });
}

function print(s: string): void {
  process.stdout.write(s.endsWith("\n") ? s : `${s}\n`);
}

export function renderStatusTable(rows: OutputStatus[]): string {
  return renderTable(
    ["OUTPUT", "TYPE", "STATE", "EXPIRES", "RENEWS", "NOTE"],
    rows.map((s) => [s.name, s.type, s.health, s.notAfter ?? "-", s.renewAt ?? "-", (s.lastError ?? s.reason ?? "").replace(/\n\s*/g, "; ")]),
  );
}

/** Runs the agent until SIGTERM/SIGINT; serves HTTP and notifies systemd when ready. */
export async function runAgent(cfg: AgentConfig, log: Logger, signal: AbortSignal): Promise<void> {
  const agent = new Agent(cfg, { log });
  let http: RunningHttp | undefined;
  if (cfg.listen) {
    // hono and its node server are loaded only by agents that serve HTTP.
    const { agentApp, listenHttp } = await import("./http.js");
    http = await listenHttp(agentApp(agent, agent.metrics.registry), cfg.listen);
    log.info({ listen: cfg.listen, port: http.port }, "serving /healthz, /readyz, /metrics");
  }
  agent.onReady = () => {
    log.info({ outputs: cfg.outputs.length }, "all outputs ready");
    void sdNotify("READY=1\nSTATUS=all outputs ready").then((sent) => sent && log.info("notified systemd: READY=1"));
  };
  try {
    await agent.run(signal);
  } finally {
    await http?.close();
  }
}

export function buildProgram(): Command {
  const program = new Command("hak-agent")
    .description("Node agent: logs in to Vault/OpenBao, obtains and renews this host's certificates, kubeconfigs and secrets, reloads units")
    .showHelpAfterError("(run with --help for usage)");

  program
    .command("run")
    .description("run until stopped (systemd Type=notify: READY=1 once every output is ready)")
    .argument("<config>", "the agent's JSON config")
    .action(async (file: string) => {
      const cfg = loadAgentConfig(file);
      const log = agentLogger();
      const ac = new AbortController();
      const stop = (sig: string) => {
        log.info({ signal: sig }, "stopping");
        ac.abort();
      };
      process.once("SIGTERM", () => stop("SIGTERM"));
      process.once("SIGINT", () => stop("SIGINT"));
      await runAgent(cfg, log, ac.signal);
    });

  program
    .command("once")
    .description("one pass, then exit: 0 when every output is present and valid (for bootstrap and ExecStartPre)")
    .argument("<config>", "the agent's JSON config")
    .action(async (file: string) => {
      const cfg = loadAgentConfig(file);
      const agent = new Agent(cfg, { log: agentLogger() });
      const ready = await agent.once();
      if (!ready) {
        process.stderr.write(`error: not every output is ready: ${agent.notReady().join(", ")}\n`);
        exitWith(1);
      }
    });

  program
    .command("check")
    .description("validate the config and report every output's state; changes nothing, contacts no server")
    .argument("<config>", "the agent's JSON config")
    .option("--json", "the report as JSON")
    .action((file: string, o: { json?: boolean }) => {
      const cfg = loadAgentConfig(file);
      const rows = checkOutputs(cfg, new Date());
      if (o.json) print(JSON.stringify({ config: file, host: cfg.host, outputs: rows }, null, 2));
      else print(`${file}: config valid (host ${cfg.host}, ${cfg.outputs.length} outputs)\n${renderStatusTable(rows)}`);
      if (rows.some((r) => r.health !== "valid" || r.lastError || r.reason)) exitWith(1);
    });

  program
    .command("credential")
    .description("kubeconfig credential plugin (client.authentication.k8s.io/v1): prints the agent's current certificate and key as an ExecCredential")
    .requiredOption("--cert <file>", "the certificate output's certFile")
    .requiredOption("--key <file>", "the certificate output's keyFile")
    .action(async (o: { cert: string; key: string }) => {
      // bin/hak-agent.js runs this module directly, without the rest of the agent; this entry is for --help and completion.
      const { credentialMain } = await import("./credential.js");
      const code = credentialMain(["--cert", o.cert, "--key", o.key]);
      if (code !== 0) exitWith(code);
    });

  return program;
}

export async function main(argv: string[]): Promise<number> {
  return runProgram(buildProgram(), argv);
}
