import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { Command } from "commander";
import { runProgram } from "../common/cli.js";
import { parseDuration } from "../common/duration.js";
import { HakError, InputError } from "../common/errors.js";
import { PROJECT_ROOT } from "../common/paths.js";
import { parseListen } from "../pki/serve/command.js";
import { clusterPaths, clusterStatus, clusterStop, clusterUp, renderClusterReport } from "../cluster/cluster.js";
import { loadInventory } from "../common/inventory.js";
import { isOurs, readProcs } from "./procs.js";
import { demoLogs, demoStatusRows, renderDemoStatus } from "./status.js";

/**
 * `npm run demo` (bin/hak-demo.js): the local cluster (src/cluster), `up` by
 * default, `stop` to end it. The flags beyond --ttl exist so tests can run
 * their own copy (another state folder, ports and name prefix).
 */

interface UpFlags {
  ttl?: string;
  stateDir: string;
  inventory: string;
  baoPort: string;
  baoNodes: string;
  serve: string;
  interval: string;
  prefix: string;
  json?: boolean;
}

const DEFAULT_STATE = resolve(PROJECT_ROOT, ".state");
const DEFAULT_INVENTORY = resolve(PROJECT_ROOT, "examples", "demo-cluster.yaml");

function port(text: string, flag: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1 || n > 65534) throw new InputError(`not a port: ${JSON.stringify(text)}`, { where: flag });
  return n;
}

function prefix(text: string): string {
  if (!/^[a-z][a-z0-9]{0,5}$/.test(text)) throw new InputError(`not a short name (a lowercase letter, then up to 5 letters or digits): ${JSON.stringify(text)}`, { where: "--prefix" });
  return text;
}

function say(line: string): void {
  process.stderr.write(`${line}\n`);
}

function buildProgram(): Command {
  const program = new Command("hak-demo").description("the demo cluster on this machine: every host's plan as real processes (etcd, control planes, load balancers, nodes), OpenBao, one agent per host, hak-pki serve");
  program
    .command("up", { isDefault: true })
    .description("start everything (reusing what runs) and print the nodes and how to use kubectl")
    .option("--ttl <duration>", "leaf certificate lifetime, e.g. 5m to watch rotations (default: the inventory's)")
    .option("--state-dir <dir>", "state folder (bao/ and cluster/ inside)", DEFAULT_STATE)
    .option("-i, --inventory <file>", "the cluster to run", DEFAULT_INVENTORY)
    .option("--bao-port <port>", "OpenBao API port (cluster port: +1)", "8200")
    .option("--bao-nodes <n>", "OpenBao nodes: 1, or 3+ for a raft cluster on --bao-port, +2, +4, ... (the HA test's)", "1")
    .option("--serve <host:port>", "where hak-pki serve listens", "127.0.0.1:8420")
    .option("--interval <duration>", "how often serve reads Vault", "10s")
    .option("--prefix <name>", "prefix of the bridge, namespaces and cgroups the cluster creates", "hak")
    .option("--json", "print the report as JSON")
    .action(async (o: UpFlags) => {
      const ttlSeconds = o.ttl === undefined ? undefined : parseDuration(o.ttl);
      if (o.ttl !== undefined && (ttlSeconds === undefined || ttlSeconds < 60))
        throw new InputError(`not a lifetime of at least 1m: ${JSON.stringify(o.ttl)}`, { where: "--ttl", fix: "e.g. --ttl 5m" });
      const interval = parseDuration(o.interval);
      if (!interval) throw new InputError(`not a duration: ${o.interval}`, { where: "--interval" });
      const baoPort = port(o.baoPort, "--bao-port");
      const baoNodes = Number(o.baoNodes);
      if (!Number.isInteger(baoNodes) || baoNodes < 1 || baoNodes === 2 || baoNodes > 7) throw new InputError(`not a node count of 1 or 3-7: ${JSON.stringify(o.baoNodes)}`, { where: "--bao-nodes" });
      port(String(baoPort + 2 * baoNodes - 1), "--bao-port");
      const report = await clusterUp({
        projectRoot: PROJECT_ROOT,
        stateRoot: resolve(o.stateDir),
        inventoryFile: resolve(o.inventory),
        baoPort,
        baoClusterPort: baoPort + 1,
        baoNodes,
        serveListen: parseListen(o.serve),
        ttlSeconds,
        serveIntervalSeconds: interval,
        prefix: prefix(o.prefix),
        say,
      });
      const stop = resolve(o.stateDir) === DEFAULT_STATE ? "npm run demo -- stop" : `npm run demo -- stop --state-dir ${o.stateDir}`;
      process.stdout.write(o.json ? `${JSON.stringify(report, null, 2)}\n` : `${renderClusterReport(report, { projectRoot: PROJECT_ROOT, stopCommand: stop })}\n`);
    });
  program
    .command("stop")
    .description("stop every process the demo started and remove its namespaces, mounts and cgroups; data stays for the next run")
    .option("--state-dir <dir>", "state folder", DEFAULT_STATE)
    .option("-i, --inventory <file>", "the cluster", DEFAULT_INVENTORY)
    .option("--prefix <name>", "prefix the cluster was started with", "hak")
    .action(async (o: { stateDir: string; inventory: string; prefix: string }) => {
      say("stopping the local cluster");
      const left = await clusterStop({ prefix: prefix(o.prefix), stateRoot: resolve(o.stateDir), say }, resolve(o.inventory));
      if (left.length > 0) throw new HakError(`stopped, but left behind:\n  ${left.join("\n  ")}`);
      say("stopped; nothing left behind. `npm run demo` starts it again with the same state.");
    });
  program
    .command("status")
    .description("each host's units (state, restarts) and the demo's own processes; exit 1 when something is down")
    .option("--state-dir <dir>", "state folder", DEFAULT_STATE)
    .option("-i, --inventory <file>", "the cluster", DEFAULT_INVENTORY)
    .option("--json", "print the status as JSON")
    .action(async (o: { stateDir: string; inventory: string; json?: boolean }) => {
      const p = clusterPaths(resolve(o.stateDir));
      const inv = loadInventory(existsSync(p.inventory) ? p.inventory : resolve(o.inventory));
      const procs = readProcs(p.procsFile).map((x) => ({ name: x.name, pid: x.pid, running: isOurs(x), log: x.log }));
      const rows = demoStatusRows(inv, await clusterStatus(resolve(o.stateDir), inv), procs);
      process.stdout.write(o.json ? `${JSON.stringify(rows, null, 2)}\n` : renderDemoStatus(rows));
      if (rows.some((r) => !r.ok)) process.exitCode = 1;
    });
  program
    .command("logs [host]")
    .description("the last lines of a host's logs (its agent, every unit, its supervisor), or with no host the list of log files")
    .option("--state-dir <dir>", "state folder", DEFAULT_STATE)
    .option("-n, --lines <n>", "lines per file", "20")
    .action((host: string | undefined, o: { stateDir: string; lines: string }) => {
      const lines = Number(o.lines);
      if (!Number.isInteger(lines) || lines < 1) throw new InputError(`not a line count: ${JSON.stringify(o.lines)}`, { where: "--lines" });
      process.stdout.write(demoLogs(clusterPaths(resolve(o.stateDir)).logs, host, lines, PROJECT_ROOT));
    });
  return program;
}

export async function main(argv: string[]): Promise<number> {
  return runProgram(buildProgram(), argv);
}
