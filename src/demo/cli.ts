import { resolve } from "node:path";
import { Command } from "commander";
import { runProgram } from "../common/cli.js";
import { parseDuration } from "../common/duration.js";
import { InputError } from "../common/errors.js";
import { PROJECT_ROOT } from "../common/paths.js";
import { parseListen } from "../pki/serve/command.js";
import { demoStop, demoUp, renderReport } from "./demo.js";

/**
 * `npm run demo` (bin/hak-demo.js): `up` by default, `stop` to end it. The
 * flags beyond --ttl exist so tests can run a second demo beside a person's.
 */

interface UpFlags {
  ttl?: string;
  stateDir: string;
  inventory: string;
  baoPort: string;
  serve: string;
  loopback: string;
  etcdPorts: string;
  interval: string;
  etcd: boolean;
  json?: boolean;
}

const DEFAULT_STATE = resolve(PROJECT_ROOT, ".state");

function port(text: string, flag: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1 || n > 65534) throw new InputError(`not a port: ${JSON.stringify(text)}`, { where: flag });
  return n;
}

function say(line: string): void {
  process.stderr.write(`${line}\n`);
}

function buildProgram(): Command {
  const program = new Command("hak-demo").description("the demo cluster's PKI on this machine: OpenBao, bootstrap, one agent per host, etcd, hak-pki serve");
  program
    .command("up", { isDefault: true })
    .description("start everything (reusing what runs) and print where to look")
    .option("--ttl <duration>", "leaf certificate lifetime, e.g. 5m to watch rotations (default: the inventory's)")
    .option("--state-dir <dir>", "state folder (bao/ and demo/ inside)", DEFAULT_STATE)
    .option("-i, --inventory <file>", "the cluster to run", resolve(PROJECT_ROOT, "examples", "demo-cluster.yaml"))
    .option("--bao-port <port>", "OpenBao API port (cluster port: +1)", "8200")
    .option("--serve <host:port>", "where hak-pki serve listens", "127.0.0.1:8420")
    .option("--loopback <a.b.c>", "loopback /24 the hosts move onto", "127.0.240")
    .option("--etcd-ports <client,peer>", "etcd ports on each etcd host's address", "2379,2380")
    .option("--interval <duration>", "how often serve reads Vault", "10s")
    .option("--no-etcd", "do not start etcd")
    .option("--json", "print the report as JSON")
    .action(async (o: UpFlags) => {
      const ttlSeconds = o.ttl === undefined ? undefined : parseDuration(o.ttl);
      if (o.ttl !== undefined && (ttlSeconds === undefined || ttlSeconds < 60))
        throw new InputError(`not a lifetime of at least 1m: ${JSON.stringify(o.ttl)}`, { where: "--ttl", fix: "e.g. --ttl 5m" });
      const interval = parseDuration(o.interval);
      if (!interval) throw new InputError(`not a duration: ${o.interval}`, { where: "--interval" });
      const [client, peer] = o.etcdPorts.split(",");
      const baoPort = port(o.baoPort, "--bao-port");
      const report = await demoUp({
        projectRoot: PROJECT_ROOT,
        stateRoot: resolve(o.stateDir),
        inventoryFile: resolve(o.inventory),
        baoPort,
        baoClusterPort: baoPort + 1,
        serveListen: parseListen(o.serve),
        loopbackPrefix: o.loopback,
        etcdPorts: { client: port(client ?? "", "--etcd-ports"), peer: port(peer ?? "", "--etcd-ports") },
        ttlSeconds,
        serveIntervalSeconds: interval,
        etcdBinary: o.etcd ? "/usr/bin/etcd" : undefined,
        say,
      });
      process.stdout.write(o.json ? `${JSON.stringify(report, null, 2)}\n` : `${renderReport(report, { projectRoot: PROJECT_ROOT, stopCommand: resolve(o.stateDir) === DEFAULT_STATE ? "npm run demo -- stop" : `npm run demo -- stop --state-dir ${o.stateDir}` })}\n`);
    });
  program
    .command("stop")
    .description("stop every process the demo started (OpenBao included); state stays for the next run")
    .option("--state-dir <dir>", "state folder", DEFAULT_STATE)
    .action(async (o: { stateDir: string }) => {
      say("stopping the demo");
      const procs = await demoStop(resolve(o.stateDir), say);
      say(procs.length > 0 ? "stopped. `npm run demo` starts it again with the same state." : "nothing was recorded as running");
    });
  return program;
}

export async function main(argv: string[]): Promise<number> {
  return runProgram(buildProgram(), argv);
}
