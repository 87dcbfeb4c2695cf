import { existsSync, mkdirSync, readFileSync, rmSync } from "node:fs";
import { join, relative, resolve } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { HakError, errorMessage } from "../common/errors.js";
import { writeFileAtomic } from "../common/fsutil.js";
import { hostsWithRole, loadInventory } from "../common/inventory.js";
import { startLocalServer, stopLocalServer, type LocalBao } from "../common/localbao.js";
import { formatDuration } from "../common/duration.js";
import { VaultClient } from "../common/vault.js";
import { bootstrap } from "../pki/bootstrap.js";
import { createAuditorToken } from "../pki/serve/auditor.js";
import type { Snapshot } from "../pki/serve/monitor.js";
import { etcdArgs, etcdClientUrls, type EtcdMember, type EtcdPorts } from "./etcd.js";
import { prepareAgent } from "./agents.js";
import { certPaths, caPath, etcdTls, hostRoot } from "./hosts.js";
import { inventoryYaml, localDemoInventory } from "./inventory.js";
import { isOurs, readProcs, spawnDetached, stopProc, writeProcs, type DemoProc, type SpawnSpec } from "./procs.js";

/**
 * `npm run demo`: the demo cluster's PKI on this machine, end to end. Every
 * step reuses what a previous run left running; `stop` ends exactly the
 * processes recorded in .state/demo/procs.json and the local OpenBao.
 */

export interface DemoOptions {
  projectRoot: string;
  /** Holds bao/ (the local OpenBao) and demo/ (hosts, inventory, logs, pids). */
  stateRoot: string;
  /** The inventory to run, with its real addresses (examples/demo-cluster.yaml). */
  inventoryFile: string;
  baoPort: number;
  baoClusterPort: number;
  serveListen: { host: string; port: number };
  /** Loopback /24 the hosts move onto, e.g. "127.0.240". */
  loopbackPrefix: string;
  etcdPorts: EtcdPorts;
  /** Leaf lifetime in seconds (--ttl), to watch rotations. */
  ttlSeconds?: number;
  serveIntervalSeconds: number;
  /** /usr/bin/etcd; undefined: skip etcd. */
  etcdBinary?: string;
  say: (line: string) => void;
}

export interface DemoPaths {
  baoDir: string;
  demoDir: string;
  procsFile: string;
  inventory: string;
  logs: string;
  auditorToken: string;
  /** The leaf lifetime (seconds) the hosts' certificates were made with. */
  ttlFile: string;
}

export function demoPaths(stateRoot: string): DemoPaths {
  const baoDir = join(stateRoot, "bao");
  const demoDir = join(stateRoot, "demo");
  return {
    baoDir,
    demoDir,
    procsFile: join(demoDir, "procs.json"),
    inventory: join(demoDir, "inventory.yaml"),
    logs: join(demoDir, "logs"),
    auditorToken: join(demoDir, "serve", "auditor.token"),
    ttlFile: join(demoDir, "leaf-ttl"),
  };
}

export interface DemoReport {
  seconds: number;
  vault: { address: string; ui: string; caFile: string; rootTokenFile: string };
  fleetUrl: string;
  inventory: string;
  hostsDir: string;
  etcd: { endpoints: string[]; healthy: boolean } | { skipped: string };
  processes: DemoProc[];
  fleet?: Snapshot["counts"];
}

/** bin/hak-agent.js, as a host runs it; it needs the build. */
function agentCommand(projectRoot: string): string {
  const built = join(projectRoot, "dist", "agent", "cli.js");
  if (!existsSync(built)) throw new HakError("hak-agent is not built", { where: built, fix: "run `bash scripts/setup.sh` (or `npm run build`)" });
  return join(projectRoot, "bin", "hak-agent.js");
}

async function reuseOrStart(procs: DemoProc[], spec: SpawnSpec, say: (l: string) => void): Promise<DemoProc> {
  const prev = procs.find((p) => p.name === spec.name && isOurs(p));
  if (prev) {
    say(`  ${spec.name}: running (pid ${prev.pid}), reused`);
    return prev;
  }
  const p = spawnDetached(spec);
  say(`  ${spec.name}: started (pid ${p.pid}), log ${spec.log}`);
  return p;
}

async function validAuditorToken(bao: LocalBao, file: string): Promise<string> {
  if (existsSync(file)) {
    const token = readFileSync(file, "utf8").trim();
    const c = new VaultClient({ addresses: [bao.address], token, tls: { ca: bao.caPem } });
    try {
      await c.read("auth/token/lookup-self");
      return token;
    } catch {
      /* expired or revoked: make a new one */
    } finally {
      await c.close();
    }
  }
  const root = bao.client();
  try {
    const token = await createAuditorToken(root, { displayName: "hak-demo-serve" });
    writeFileAtomic(file, `${token}\n`, { mode: 0o600 });
    return token;
  } finally {
    await root.close();
  }
}

async function waitFor<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last = "";
  while (Date.now() < deadline) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (err) {
      // A HakError is a verdict (a process died), not a not-yet.
      if (err instanceof HakError) throw err;
      last = errorMessage(err);
    }
    await sleep(200);
  }
  throw new HakError(`${what} did not come up in ${timeoutMs / 1000}s${last ? `: ${last}` : ""}`);
}

async function fetchFleet(url: string): Promise<Snapshot | undefined> {
  const res = await fetch(new URL("api/fleet", url));
  if (!res.ok) return undefined;
  const s = (await res.json()) as Snapshot;
  return s.lastSuccess ? s : undefined;
}

/** etcd answers on every member with a client certificate signed by the etcd CA. */
async function etcdHealthy(binary: string, endpoints: string[], tls: { cert: string; key: string; ca: string }): Promise<boolean> {
  const { spawnSync } = await import("node:child_process");
  const etcdctl = join(binary, "..", "etcdctl");
  const r = spawnSync(etcdctl, [`--endpoints=${endpoints.join(",")}`, `--cacert=${tls.ca}`, `--cert=${tls.cert}`, `--key=${tls.key}`, "endpoint", "health"], {
    env: { ...process.env, ETCDCTL_API: "3" },
    encoding: "utf8",
    timeout: 10_000,
  });
  return r.status === 0;
}

export async function demoUp(o: DemoOptions): Promise<DemoReport> {
  const started = performance.now();
  const paths = demoPaths(o.stateRoot);
  for (const d of [paths.demoDir, paths.logs, join(paths.demoDir, "serve")]) mkdirSync(d, { recursive: true, mode: 0o700 });
  const procs = readProcs(paths.procsFile).filter((p) => isOurs(p));
  const record = (p: DemoProc) => {
    const i = procs.findIndex((x) => x.name === p.name);
    if (i >= 0) procs[i] = p;
    else procs.push(p);
    writeProcs(paths.procsFile, procs);
  };

  o.say(`1/6 OpenBao from vault-dev.hcl (state ${rel(o, paths.baoDir)})`);
  const bao = await startLocalServer({ stateDir: paths.baoDir, port: o.baoPort, clusterPort: o.baoClusterPort, detached: true });
  if (bao.pid) record({ name: "openbao", kind: "bao", pid: bao.pid, argv: readArgv(bao.pid), log: join(paths.baoDir, "server.log"), started: new Date().toISOString() });
  o.say(`  ${bao.address} (pid ${bao.pid ?? "?"})`);

  o.say("2/6 demo inventory on loopback, bootstrap");
  const source = loadInventory(o.inventoryFile);
  // --ttl sticks: a later run without it keeps the lifetime the hosts' certificates have.
  const hostsDir = join(paths.demoDir, "hosts");
  // Host folders from a run that kept no record were made with the inventory's lifetime.
  const prevTtl = readTtl(paths.ttlFile) ?? (existsSync(hostsDir) ? source.leafTtl : undefined);
  const ttlSeconds = o.ttlSeconds ?? prevTtl;
  const inv = localDemoInventory(source, { prefix: o.loopbackPrefix, vaultAddress: bao.address, leafTtlSeconds: ttlSeconds });
  writeFileAtomic(paths.inventory, inventoryYaml(inv, relative(o.projectRoot, o.inventoryFile) || o.inventoryFile), { mode: 0o644 });
  for (const h of inv.hosts) o.say(`  ${h.name.padEnd(14)} ${source.hosts.find((s) => s.name === h.name)?.address} -> ${h.address}`);
  o.say(`  leaf certificates live ${formatDuration(inv.leafTtl)}${o.ttlSeconds === undefined && prevTtl !== undefined ? " (kept from the last run; --ttl changes it)" : ""}`);
  if (prevTtl !== undefined && prevTtl !== inv.leafTtl && existsSync(hostsDir)) {
    // Agents keep a valid certificate whatever its lifetime; new lifetimes show only on new hosts.
    o.say(`  lifetime changed from ${formatDuration(prevTtl)}: the demo hosts start over (agents and etcd stopped, host folders removed)`);
    for (const p of procs.filter((x) => x.kind === "agent" || x.kind === "etcd")) await stopProc(p);
    procs.splice(0, procs.length, ...procs.filter((x) => x.kind !== "agent" && x.kind !== "etcd"));
    writeProcs(paths.procsFile, procs);
    rmSync(hostsDir, { recursive: true, force: true });
  }
  writeFileAtomic(paths.ttlFile, `${inv.leafTtl}\n`, { mode: 0o644 });
  const root = bao.client();
  try {
    const plan = await bootstrap(root, inv, { auditFile: join(resolve(paths.baoDir), "audit.log") });
    o.say(`  bootstrap: ${plan.counts.create} created, ${plan.counts.update} updated, ${plan.counts.delete} deleted, ${plan.counts.unchanged} unchanged`);

    o.say("3/6 one agent per host, each in its own root folder");
    const agentBin = agentCommand(o.projectRoot);
    const vault = { address: bao.address, caFile: bao.caFile ?? "" };
    for (const h of inv.hosts) {
      const prep = await prepareAgent(root, inv, h, paths.demoDir, vault);
      if (prep.enrolled) o.say(`  ${h.name}: enrolled (single-use secret ID bound to ${h.address}/32)`);
      record(
        await reuseOrStart(
          procs,
          {
            name: `agent-${h.name}`,
            kind: "agent",
            command: process.execPath,
            args: [agentBin, "run", prep.config],
            cwd: hostRoot(paths.demoDir, h.name),
            env: { PATH: process.env.PATH },
            log: join(paths.logs, `agent-${h.name}.log`),
          },
          o.say,
        ),
      );
    }
    const agents = procs.filter((p) => p.kind === "agent");
    await waitFor("every host's identity certificate", 90_000, async () => {
      const dead = agents.find((p) => !isOurs(p));
      if (dead) throw new HakError(`${dead.name} exited:\n${tail(dead.log, 8)}`, { where: dead.log });
      return inv.hosts.every((h) => existsSync(certPaths(paths.demoDir, h.name, "host-identity").cert)) ? true : undefined;
    });

    o.say("4/6 etcd, 3 members on the etcd hosts' certificates");
    const etcdHosts = hostsWithRole(inv, "etcd");
    let etcd: DemoReport["etcd"];
    if (!o.etcdBinary || !existsSync(o.etcdBinary)) {
      etcd = { skipped: "etcd is not installed (Debian etcd-server; scripts/setup.sh installs it)" };
      o.say(`  skipped: ${etcd.skipped}`);
    } else {
      const members: EtcdMember[] = etcdHosts.map((h) => ({ host: h, dataDir: join(paths.demoDir, "hosts", h.name, "var", "lib", "etcd"), tls: etcdTls(paths.demoDir, h.name) }));
      await waitFor("the etcd hosts' certificates", 60_000, async () => (members.every((m) => existsSync(m.tls.serverCert) && existsSync(m.tls.peerCert)) ? true : undefined));
      for (const m of members) {
        mkdirSync(m.dataDir, { recursive: true, mode: 0o700 });
        record(
          await reuseOrStart(
            procs,
            { name: `etcd-${m.host.name}`, kind: "etcd", command: o.etcdBinary, args: etcdArgs(m, members, o.etcdPorts, `hak-${inv.name}`), cwd: paths.demoDir, env: { PATH: process.env.PATH ?? "/usr/bin:/bin" }, log: join(paths.logs, `etcd-${m.host.name}.log`) },
            o.say,
          ),
        );
      }
      const endpoints = etcdClientUrls(members, o.etcdPorts);
      const client = { ...certPaths(paths.demoDir, etcdHosts[0]!.name, "etcd-healthcheck-client"), ca: caPath(paths.demoDir, etcdHosts[0]!.name, "etcd") };
      const healthy = await waitFor("etcd", 60_000, async () => ((await etcdHealthy(o.etcdBinary!, endpoints, client)) ? true : undefined)).catch(() => false);
      etcd = { endpoints, healthy };
      o.say(`  ${healthy ? "healthy" : "NOT healthy (see its logs)"}: ${endpoints.join(", ")}`);
    }

    o.say("5/6 hak-pki serve with a read-only (auditor) token");
    const auditorToken = await validAuditorToken(bao, paths.auditorToken);
    const listen = `${o.serveListen.host}:${o.serveListen.port}`;
    const fleetUrl = `http://${listen}/`;
    const serve = await reuseOrStart(
      procs,
      {
        name: "hak-pki-serve",
        kind: "serve",
        command: process.execPath,
        args: [join(o.projectRoot, "bin", "hak-pki.js"), "serve", "-i", paths.inventory, "--listen", listen, "--interval", `${o.serveIntervalSeconds}s`, "--drift-every", "6", "--audit-file", join(resolve(paths.baoDir), "audit.log"), "--state-file", join(paths.demoDir, "serve", "alerts.json")],
        cwd: paths.demoDir,
        env: { PATH: process.env.PATH, VAULT_ADDR: bao.address, VAULT_CACERT: bao.caFile, VAULT_TOKEN: auditorToken },
        log: join(paths.logs, "serve.log"),
      },
      o.say,
    );
    record(serve);
    let fleet = await waitFor("hak-pki serve", 30_000, () => fetchFleet(fleetUrl));
    if (fleet.counts.missing > 0) {
      // Agents sign their host identity first and the rest right after; give them a moment so the page opens complete.
      o.say(`  ${fleet.counts.missing} certificate(s) not signed yet; waiting for the agents`);
      fleet = await waitFor("every certificate of the fleet", 60_000, async () => {
        const s = await fetchFleet(fleetUrl);
        return s && s.counts.missing === 0 && Date.parse(s.generatedAt) > Date.now() - 2 * o.serveIntervalSeconds * 1000 ? s : undefined;
      }).catch(() => fleet);
    }

    o.say("6/6 done");
    return {
      seconds: (performance.now() - started) / 1000,
      vault: { address: bao.address, ui: `${bao.address}/ui/`, caFile: bao.caFile ?? "", rootTokenFile: join(paths.baoDir, "init.json") },
      fleetUrl,
      inventory: paths.inventory,
      hostsDir: join(paths.demoDir, "hosts"),
      etcd,
      processes: procs,
      fleet: fleet.counts,
    };
  } finally {
    await root.close();
  }
}

function readTtl(file: string): number | undefined {
  try {
    const n = Number(readFileSync(file, "utf8").trim());
    return Number.isInteger(n) && n > 0 ? n : undefined;
  } catch {
    return undefined;
  }
}

/** The last lines of a log, for an error message. */
function tail(file: string, lines: number): string {
  try {
    return readFileSync(file, "utf8").trimEnd().split("\n").slice(-lines).join("\n");
  } catch {
    return "(no log)";
  }
}

function readArgv(pid: number): string[] {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").slice(0, 2);
  } catch {
    return [];
  }
}

function rel(o: DemoOptions, p: string): string {
  const r = relative(o.projectRoot, p);
  return r.startsWith("..") ? p : r;
}

/** Stops every recorded process (agents and serve first, OpenBao last); data stays. */
export async function demoStop(stateRoot: string, say: (l: string) => void): Promise<DemoProc[]> {
  const paths = demoPaths(stateRoot);
  const procs = readProcs(paths.procsFile);
  const order: DemoProc["kind"][] = ["serve", "agent", "etcd", "bao"];
  for (const kind of order) {
    await Promise.all(
      procs
        .filter((p) => p.kind === kind)
        .map(async (p) => {
          const r = await stopProc(p);
          say(`  ${p.name} (pid ${p.pid}): ${r}`);
        }),
    );
  }
  // A server this run did not record (started by `hak-pki local-server start`): its own pid file.
  if (!procs.some((p) => p.kind === "bao") && (await stopLocalServer(paths.baoDir))) say("  openbao (pid file): stopped");
  writeProcs(paths.procsFile, []);
  return procs;
}

export function renderReport(r: DemoReport, o: { projectRoot: string; stopCommand: string }): string {
  const relp = (p: string) => {
    const x = relative(o.projectRoot, p);
    return x.startsWith("..") ? p : x;
  };
  // For require(): a relative path needs its "./".
  const req = (p: string) => (relp(p).startsWith("/") ? relp(p) : `./${relp(p)}`);
  const lines = [
    "",
    `hak demo is up (${r.seconds.toFixed(1)}s).`,
    "",
    `  Fleet page      ${r.fleetUrl}   (JSON: ${r.fleetUrl}api/fleet, metrics: ${r.fleetUrl}metrics)`,
    `  Vault UI        ${r.vault.ui}   (TLS with the demo's own CA: ${relp(r.vault.caFile)})`,
    `  Log in          method "Token", token = root_token in ${relp(r.vault.rootTokenFile)} (0600)`,
    `                  node -p 'require("${req(r.vault.rootTokenFile)}").root_token'`,
    `  Certificates    ${relp(r.hostsDir)}/<host>/var/lib/hak-agent/certs/  (one folder per host = that host's /)`,
    `  Inventory       ${relp(r.inventory)}  (hosts on 127.0.x loopback addresses; Vault binds secret IDs to them)`,
  ];
  if ("endpoints" in r.etcd) lines.push(`  etcd            ${r.etcd.endpoints.join(",")}  ${r.etcd.healthy ? "healthy" : "NOT healthy"} (client certs: etcd-healthcheck-client in an etcd host's folder)`);
  else lines.push(`  etcd            skipped: ${r.etcd.skipped}`);
  lines.push(`  Agents          ${r.processes.filter((p) => p.kind === "agent").length} hak-agent processes, one per host; metrics and health on <host address>:9180`);
  if (r.fleet) lines.push(`  Fleet now       ${Object.entries(r.fleet).map(([k, v]) => `${v} ${k}`).join(", ")}`);
  lines.push(
    "",
    "  Use hak-pki against it:",
    `    export VAULT_ADDR=${r.vault.address} VAULT_CACERT=${relp(r.vault.caFile)} HAK_INVENTORY=${relp(r.inventory)}`,
    `    export VAULT_TOKEN=$(node -p 'require("${req(r.vault.rootTokenFile)}").root_token')`,
    "    node bin/hak-pki.js status",
    "",
    `  Watch rotations: npm run demo -- --ttl 5m     Stop: ${o.stopCommand}     Processes: ${r.processes.map((p) => `${p.name}=${p.pid}`).join(" ")}`,
    `  (elapsed ${formatDuration(Math.round(r.seconds))})`,
  );
  return lines.join("\n");
}
