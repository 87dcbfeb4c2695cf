import { spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { join, resolve } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { HakError, errorMessage } from "../common/errors.js";
import { formatDuration } from "../common/duration.js";
import { readTextIfAny, writeFileAtomic } from "../common/fsutil.js";
import { loadInventory, parseInventory, type Host, type Inventory } from "../common/inventory.js";
import { lifeState } from "../common/lifetime.js";
import { startLocalCluster, startLocalServer, stopLocalServer, type LocalBao } from "../common/localbao.js";
import { VaultClient } from "../common/vault.js";
import { certFacts } from "../common/x509.js";
import { mintSecretId } from "../deploy/enroll.js";
import { kubectl, nodeReady, type KubeNode, type Kubectl } from "../deploy/kubectl.js";
import { bootstrap } from "../pki/bootstrap.js";
import { signProfile } from "../pki/issue.js";
import { renderKubeconfig } from "../common/kubeconfig.js";
import { PROFILES } from "../common/profiles.js";
import { createAuditorToken } from "../pki/serve/auditor.js";
import type { Snapshot } from "../pki/serve/monitor.js";
import { clusterPlan, hostPlan, manifestsYaml, pathMapper, relocatePlan, type HostPlan, type PlanOptionsInput } from "../plan/index.js";
import { AGENT_CONFIG_FILE, CNI_BIN_DIR, CONTAINERD_SOCKET } from "../plan/paths.js";
import { isOurs, readProcs, spawnDetached, stopProc, writeProcs, type DemoProc, type SpawnSpec } from "../demo/procs.js";
import * as ns from "./netns.js";
import { checkPrograms, localPrograms, type ImageRef, type Programs } from "./programs.js";
import { control } from "./supervisor.js";
import type { HostStatus, Unit, UnitFile } from "./units.js";

/**
 * The local cluster: every host of the inventory runs its plan (hostPlan)
 * as real processes on this machine, each host in its own network and mount
 * namespaces with its inventory address on a bridge, under a supervisor
 * that stands in for systemd. OpenBao, bootstrap, one hak-agent per host,
 * the plan's RBAC applied with kubectl, hak-pki serve. `npm run demo` and
 * the cluster tests both run this.
 */

export interface ClusterOptions {
  projectRoot: string;
  /** bao/ and cluster/ go in here. */
  stateRoot: string;
  inventoryFile: string;
  baoPort: number;
  baoClusterPort: number;
  serveListen: { host: string; port: number };
  /** Leaf lifetime in seconds (--ttl); sticks for later runs. */
  ttlSeconds?: number;
  serveIntervalSeconds: number;
  /** Prefix of the bridge, namespaces, veths and cgroups ("hak"). */
  prefix: string;
  /**
   * OpenBao nodes: 1 (the default: vault-dev.hcl's one server) or 3+ (a
   * raft cluster on ports baoPort, baoPort+2, ... with cluster ports +1,
   * every agent given every node's address: the HA test's OpenBao row).
   */
  baoNodes?: number;
  say: (line: string) => void;
  env?: NodeJS.ProcessEnv;
}

export interface ClusterPaths {
  baoDir: string;
  dir: string;
  hostsDir: string;
  logs: string;
  runDir: string;
  binDir: string;
  procsFile: string;
  inventory: string;
  ttlFile: string;
  adminConf: string;
  superAdminConf: string;
  auditorToken: string;
}

export function clusterPaths(stateRoot: string): ClusterPaths {
  const dir = join(stateRoot, "cluster");
  return {
    baoDir: join(stateRoot, "bao"),
    dir,
    hostsDir: join(dir, "hosts"),
    logs: join(dir, "logs"),
    runDir: join(dir, "run"),
    binDir: join(dir, "bin"),
    procsFile: join(dir, "procs.json"),
    inventory: join(dir, "inventory.yaml"),
    ttlFile: join(dir, "leaf-ttl"),
    adminConf: join(dir, "admin.conf"),
    superAdminConf: join(dir, "super-admin.conf"),
    auditorToken: join(dir, "serve", "auditor.token"),
  };
}

export const hostRoot = (p: ClusterPaths, host: string) => join(p.hostsDir, host);
/** Where a raft OpenBao cluster of the local cluster keeps its nodes (baoNodes > 1). */
export const raftDir = (p: ClusterPaths) => join(p.baoDir, "raft");

/** The bridge takes .1 of the hosts' /24; hosts keep their inventory addresses. */
export function bridgeCidr(inv: Inventory): { ip: string; cidr: string; prefixLength: number } {
  const first = inv.hosts[0]!.address.split(".");
  if (first.length !== 4) throw new HakError("the local cluster needs IPv4 host addresses", { where: "hosts[0].address" });
  const ip = `${first[0]}.${first[1]}.${first[2]}.1`;
  for (const [i, h] of inv.hosts.entries()) {
    if (!h.address.startsWith(`${first[0]}.${first[1]}.${first[2]}.`) || h.address === ip)
      throw new HakError(`the local cluster puts every host on one /24 with the bridge at ${ip}; ${h.address} is not on it`, { where: `hosts[${i}].address` });
  }
  return { ip, cidr: `${ip}/24`, prefixLength: 24 };
}

export const isNodeHost = (h: Host) => h.role === "controlplane" || h.role === "worker";

/** The deployment choices of the local cluster, as plan options (docs/cluster.md says why each). */
export function localPlanOptions(o: { vaultAddresses: string[]; vaultCaFile: string; cgroupRoot: string; pauseImage: string }): PlanOptionsInput {
  return {
    vault: { addresses: o.vaultAddresses, caFile: o.vaultCaFile },
    kubelet: {
      // This machine is cgroup v1 (kubelet 1.35 refuses it by default) and has no systemd.
      failCgroupV1: false,
      cgroupDriver: "cgroupfs",
      extraConfig: {
        // Five kubelets share one cgroup hierarchy: each owns its own subtree.
        cgroupRoot: o.cgroupRoot,
        // The disk is shared with everything else on the machine: do not evict pods over it.
        evictionHard: { "memory.available": "100Mi", "nodefs.available": "1%", "imagefs.available": "1%", "nodefs.inodesFree": "1%" },
        imageGCHighThresholdPercent: 100,
        imageGCLowThresholdPercent: 99,
      },
    },
    containerd: { sandboxImage: o.pauseImage, restrictOomScoreAdj: true },
    // nf_conntrack_max is read-only outside the initial network namespace.
    kubeProxy: { extraConfig: { conntrack: { maxPerCore: 0, min: 0 } } },
  };
}

/**
 * inotify instances the local cluster needs: each kubelet, apiserver and
 * containerd holds several (fsnotify watchers on CA files, CNI config), ~65
 * for one cluster, all of one user (root) on this machine. With the
 * kernel's default 128 a second cluster beside the first (the e2e and HA
 * tests in one CI run) makes kubelets and containerd's CRI fail to start
 * ("too many open files"). Kubernetes nodes commonly raise it too.
 */
const MIN_INOTIFY_INSTANCES = 1024;
const INOTIFY_FILE = "/proc/sys/fs/inotify/max_user_instances";

function ensureInotifyInstances(min: number): { was: number } | undefined {
  try {
    const was = Number(readFileSync(INOTIFY_FILE, "utf8").trim());
    if (was >= min) return undefined;
    writeFileSync(INOTIFY_FILE, `${min}\n`);
    return { was };
  } catch {
    return undefined;
  }
}

function run(cmd: string, args: string[], timeoutMs = 120_000): { code: number; out: string; err: string } {
  const r = spawnSync(cmd, args, { encoding: "utf8", timeout: timeoutMs });
  return { code: r.status ?? -1, out: r.stdout ?? "", err: (r.stderr ?? "") + (r.error ? String(r.error) : "") };
}

async function waitFor<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>, everyMs = 500): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last = "";
  while (Date.now() < deadline) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (err) {
      if (err instanceof HakError) throw err;
      last = errorMessage(err);
    }
    await sleep(everyMs);
  }
  throw new HakError(`${what} did not come up in ${Math.round(timeoutMs / 1000)}s${last ? `: ${last}` : ""}`);
}

function tcpOpen(host: string, port: number): Promise<boolean> {
  return new Promise((res) => {
    const s = connect({ host, port });
    const t = setTimeout(() => (s.destroy(), res(false)), 2000);
    s.on("connect", () => (clearTimeout(t), s.end(), res(true)));
    s.on("error", () => (clearTimeout(t), res(false)));
  });
}

function readTtl(file: string): number | undefined {
  try {
    const n = Number(readFileSync(file, "utf8").trim());
    return Number.isInteger(n) && n > 0 ? n : undefined;
  } catch {
    return undefined;
  }
}

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

/** The systemd stand-in the agents call (systemctl.ts), first on every unit's PATH. */
function writeSystemctl(p: ClusterPaths, projectRoot: string): void {
  const script = `#!/bin/sh\n# The local cluster's systemctl stand-in (src/cluster/systemctl.ts).\nexec ${JSON.stringify(process.execPath)} ${JSON.stringify(join(projectRoot, "dist", "cluster", "systemctl-main.js"))} "$@"\n`;
  writeFileAtomic(join(p.binDir, "systemctl"), script, { mode: 0o755 });
}

function hasValidIdentity(file: string): boolean {
  if (!existsSync(file)) return false;
  try {
    const f = certFacts(readFileSync(file, "utf8"));
    return lifeState(new Date(), f.notBefore, f.notAfter) !== "expired";
  } catch {
    return false;
  }
}

interface PreparedHost {
  host: Host;
  plan: HostPlan;
  /** A plan path -> where it is under the host's folder. */
  map: (path: string) => string;
  root: string;
  unitFile: string;
  socket: string;
  cgroup: string;
}

/** The files every output of the agent config writes: when all exist, the host's services can start. */
function agentOutputFiles(plan: HostPlan): string[] {
  const out: string[] = [];
  for (const o of plan.agent.outputs) {
    if (o.type === "certificate") out.push(o.certFile, o.keyFile);
    else if (o.type === "kubeconfig") out.push(o.path);
    else if (o.type === "secret") out.push(o.path);
  }
  return out;
}

/** Writes a host's files, agent config, unit list; enrolls it when it has no identity yet. */
async function prepareHost(o: ClusterOptions, p: ClusterPaths, inv: Inventory, host: Host, programs: Programs, planOpts: PlanOptionsInput, root: VaultClient): Promise<PreparedHost & { enrolled: boolean }> {
  const plan = hostPlan(inv, host.name, planOpts);
  const hr = hostRoot(p, host.name);
  // Every process here runs as root (no etcd/kubernetes users on this machine): agent outputs are owned by us.
  const moved = relocatePlan(plan, hr, { owner: process.getuid?.() ?? 0, group: process.getgid?.() ?? 0 });
  const map = pathMapper(plan.pathRoots, hr);
  for (const d of moved.directories) mkdirSync(d.path, { recursive: true, mode: Number.parseInt(d.mode, 8) });
  for (const f of moved.files) writeFileAtomic(f.path, f.content, { mode: Number.parseInt(f.mode, 8) });
  // Paths the consumer fills: the CNI plugins, the resolver file, the agent config.
  if (isNodeHost(host)) {
    const dir = map(CNI_BIN_DIR);
    mkdirSync(dir, { recursive: true });
    for (const n of ["bridge", "host-local", "loopback", "portmap"]) {
      const link = join(dir, n);
      if (existsSync(link)) unlinkSync(link);
      symlinkSync(join(programs.cniBinDir, n), link);
    }
  }
  if (plan.pathRoots.includes("/etc/resolv.conf")) {
    // No uplink: nothing answers for names outside the cluster, and nothing loops back to CoreDNS.
    writeFileAtomic(map("/etc/resolv.conf"), `# local cluster: no uplink\nnameserver ${bridgeCidr(inv).ip}\n`, { mode: 0o644 });
  }
  const agent = moved.agent;
  const agentConfig = map(AGENT_CONFIG_FILE);
  writeFileAtomic(agentConfig, `${JSON.stringify(agent, null, 2)}\n`, { mode: 0o600 });
  let enrolled = false;
  const identity = agent.outputs.find((x) => x.type === "certificate" && x.profile === "host-identity");
  if (!identity || identity.type !== "certificate" || !hasValidIdentity(identity.certFile)) {
    const secret = await mintSecretId(root, host);
    writeFileAtomic(agent.auth.secretIdFile, `${secret.secret_id}\n`, { mode: 0o600 });
    enrolled = true;
  }
  const cgroup = ns.cgroupName({ prefix: o.prefix, bridgeCidr: "" }, host.name);
  const socket = join(p.runDir, `${host.name}.sock`);
  const env = {
    PATH: [p.binDir, programs.binDir, "/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"].join(":"),
    HAK_SUPERVISOR_SOCKET: socket,
    HOME: hr,
  };
  const agentUnit: Unit = {
    name: "hak-agent",
    argv: [...programs.resolve("hak-agent"), "run", agentConfig],
    env,
    cwd: hr,
    log: join(p.logs, `${host.name}-hak-agent.log`),
    after: [],
    readiness: { kind: "files", paths: agentOutputFiles(moved) },
    reload: { kind: "restart" },
  };
  const units: Unit[] = [agentUnit];
  for (const s of moved.services) {
    units.push({
      name: s.name,
      argv: [...programs.resolve(s.program), ...s.args],
      env: { ...env, ...(s.env ?? {}) },
      cwd: hr,
      log: join(p.logs, `${host.name}-${s.name}.log`),
      after: ["hak-agent", ...s.after],
      readiness: s.readiness,
      reload: s.reload,
    });
  }
  const unitFile = join(p.runDir, `${host.name}.units.json`);
  const doc: UnitFile = { host: host.name, socket, statusFile: join(p.runDir, `${host.name}.status.json`), units };
  writeFileAtomic(unitFile, `${JSON.stringify(doc, null, 2)}\n`, { mode: 0o600 });
  return { host, plan, map, root: hr, unitFile, socket, cgroup, enrolled };
}

/**
 * Starts a host's supervisor (its units from the unit list prepareHost
 * wrote) inside the host's namespaces and cgroup, detached; the caller
 * records it in procs.json. `up` does it, and so does the HA test when a
 * host it killed comes back.
 */
export function spawnSupervisor(o: Pick<ClusterOptions, "projectRoot" | "stateRoot" | "prefix">, host: string): DemoProc {
  const p = clusterPaths(o.stateRoot);
  const spec: ns.NetSpec = { prefix: o.prefix, bridgeCidr: "" };
  const cg = ns.cgroupName(spec, host);
  const argv = ns.inHostArgv(spec, o.stateRoot, host, `${cg}/hak`, [process.execPath, join(o.projectRoot, "dist", "cluster", "supervisor-main.js"), join(p.runDir, `${host}.units.json`)]);
  const s: SpawnSpec = { name: `host-${host}`, kind: "host", command: argv[0]!, args: argv.slice(1), cwd: hostRoot(p, host), env: { PATH: process.env.PATH }, log: join(p.logs, `${host}-supervisor.log`) };
  // The shell joins the host's cgroup and execs nsenter, which execs node: record what stays.
  return { ...spawnDetached(s), argv: [process.execPath, argv[argv.length - 2]!] };
}

/** Hard-coded paths of kubelet, containerd and the CNI plugins, bind-mounted from the host's folder inside its mount namespace. */
function hostBinds(root: string): { target: string; source: string; file?: true }[] {
  return [
    { target: "/var/log/containers", source: join(root, "var", "log", "containers") },
    { target: "/run/containerd", source: join(root, "run", "containerd") },
    { target: "/var/lib/cni", source: join(root, "var", "lib", "cni") },
    { target: "/run/netns", source: join(root, "run", "netns") },
    { target: "/etc/hosts", source: hostsFile(root), file: true },
  ];
}

const hostsFile = (root: string) => join(root, "etc", "hosts");

/**
 * The host's /etc/hosts (bind-mounted over the machine's in its mount
 * namespace): the plan's hostNames, as NixOS's networking.hosts writes them.
 * Written in place, not renamed, so a namespace made by an earlier run sees
 * the new content through its bind.
 */
function writeHostsFile(root: string, names: HostPlan["hostNames"]): void {
  const text = ["127.0.0.1 localhost", "::1 localhost", ...names.map((h) => `${h.address} ${h.names.join(" ")}`), ""].join("\n");
  mkdirSync(join(root, "etc"), { recursive: true });
  if (readTextIfAny(hostsFile(root)) !== text) writeFileSync(hostsFile(root), text, { mode: 0o644 });
}

async function supervisorAnswers(socket: string): Promise<HostStatus | undefined> {
  try {
    const a = await control(socket, { op: "status" }, 5000);
    return a.ok ? a.status : undefined;
  } catch {
    return undefined;
  }
}

async function importImages(p: ClusterPaths, h: PreparedHost, programs: Programs, images: ImageRef[]): Promise<void> {
  const sock = h.map(CONTAINERD_SOCKET);
  const ctr = join(programs.binDir, "ctr");
  await waitFor(`${h.host.name}'s containerd`, 120_000, async () => (existsSync(sock) && (await tcpOpenUnix(sock)) ? true : undefined));
  const have = run(ctr, ["--address", sock, "-n", "k8s.io", "images", "ls", "-q"]).out.split("\n");
  for (const img of images) {
    if (have.includes(img.ref)) continue;
    const r = run(ctr, ["--address", sock, "-n", "k8s.io", "images", "import", "--no-unpack=false", img.file]);
    if (r.code !== 0) {
      const r2 = run(ctr, ["--address", sock, "-n", "k8s.io", "images", "import", img.file]);
      if (r2.code !== 0) throw new HakError(`importing ${img.ref} into ${h.host.name}'s containerd failed: ${r2.err.trim()}`, { where: img.file });
    }
  }
}

function tcpOpenUnix(path: string): Promise<boolean> {
  return new Promise((res) => {
    const s = connect({ path });
    s.on("connect", () => (s.end(), res(true)));
    s.on("error", () => res(false));
  });
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

async function fetchFleet(url: string): Promise<Snapshot | undefined> {
  const res = await fetch(new URL("api/fleet", url));
  if (!res.ok) return undefined;
  const s = (await res.json()) as Snapshot;
  return s.lastSuccess ? s : undefined;
}

/** Operator kubeconfigs (admin, super-admin) signed by Vault for this run; renewed when near expiry. */
async function operatorKubeconfig(root: VaultClient, inv: Inventory, profile: "admin" | "super-admin", file: string, server: string): Promise<string> {
  if (existsSync(file)) {
    const text = readFileSync(file, "utf8");
    const m = /client-certificate-data: (\S+)/.exec(text);
    if (m && text.includes(`server: ${server}`)) {
      try {
        const f = certFacts(Buffer.from(m[1]!, "base64").toString("utf8"));
        const left = f.notAfter.getTime() - Date.now();
        // Renewed at a third of its life used, like nothing else: a person's kubectl should not expire mid-session.
        if (left > ((f.notAfter.getTime() - f.notBefore.getTime()) * 2) / 3) return file;
      } catch {
        /* re-issue */
      }
    }
  }
  const signed = await signProfile(root, inv, { profile });
  // The operator's machine resolves no cluster names: the API as the hosts' kubeconfigs reach it (the virtual IP).
  writeFileAtomic(file, renderKubeconfig({ clusterName: inv.name, server, caPem: signed.caPem, certPem: signed.certPem, keyPem: signed.keyPem, userName: PROFILES[profile].commonName(undefined) }), { mode: 0o600 });
  return file;
}

export interface ClusterReport {
  seconds: number;
  vault: { address: string; ui: string; caFile: string; rootTokenFile: string };
  fleetUrl: string;
  inventory: string;
  hostsDir: string;
  adminKubeconfig: string;
  kubectl: string;
  nodes: { name: string; ready: boolean }[];
  nodesWide: string;
  processes: DemoProc[];
  fleet?: Snapshot["counts"];
}

export async function clusterUp(o: ClusterOptions): Promise<ClusterReport> {
  const started = performance.now();
  if (process.getuid?.() !== 0) throw new HakError("the local cluster needs root (network namespaces, cgroups, mounts)", { fix: "run it as root (CI and the dev machine do)" });
  const p = clusterPaths(o.stateRoot);
  for (const d of [p.dir, p.logs, p.runDir, p.binDir, join(p.dir, "serve")]) mkdirSync(d, { recursive: true, mode: 0o700 });
  // Services that drop privileges (keepalived's track script user) must reach their files under the host folders.
  for (const d of [o.stateRoot, p.dir, p.hostsDir]) {
    mkdirSync(d, { recursive: true });
    chmodSync(d, 0o711);
  }
  const programs = localPrograms(o.env);
  const source = loadInventory(o.inventoryFile);
  const br = bridgeCidr(source);
  const spec: ns.NetSpec = { prefix: o.prefix, bridgeCidr: br.cidr };
  const wanted = new Set(source.hosts.flatMap((h) => (h.role === "loadbalancer" ? ["haproxy", "keepalived"] : h.role === "etcd" ? ["etcd"] : ["containerd", "kubelet", "kube-proxy", ...(h.role === "worker" ? ["coredns"] : ["kube-apiserver", "kube-controller-manager", "kube-scheduler"])])));
  checkPrograms(programs, [...wanted]);
  if (!existsSync(join(o.projectRoot, "dist", "cluster", "supervisor-main.js"))) throw new HakError("hak is not built", { where: "dist/", fix: "run `npm run build`" });
  const images = programs.images();
  const procs = readProcs(p.procsFile).filter((x) => isOurs(x));
  const record = (x: DemoProc) => {
    const i = procs.findIndex((y) => y.name === x.name);
    if (i >= 0) procs[i] = x;
    else procs.push(x);
    writeProcs(p.procsFile, procs);
  };

  const inotify = ensureInotifyInstances(MIN_INOTIFY_INSTANCES);
  if (inotify) o.say(`  fs.inotify.max_user_instances raised from ${inotify.was} to ${MIN_INOTIFY_INSTANCES} (a cluster here takes ~65 of them; two clusters passed the default 128)`);
  o.say(`1/8 network: bridge ${ns.bridgeName(spec)} ${br.cidr} (no uplink), one network namespace per host`);
  ns.ensureBridge(spec);

  const baoNodes = o.baoNodes ?? 1;
  let bao: LocalBao;
  let vaultAddresses: string[];
  if (baoNodes > 1) {
    o.say(`2/8 OpenBao: ${baoNodes} raft nodes, also on the bridge address`);
    const ports = Array.from({ length: baoNodes }, (_, i) => ({ api: o.baoPort + 2 * i, cluster: o.baoPort + 2 * i + 1 }));
    const raft = await startLocalCluster(raftDir(p), baoNodes, { ports, extraListenIp: br.ip, detached: true, auditFile: join(resolve(p.baoDir), "audit.log") });
    for (const [i, n] of raft.nodes.entries()) if (n.pid) record({ name: `openbao-node${i}`, kind: "bao", pid: n.pid, argv: readArgv(n.pid), log: join(raftDir(p), `node${i}.log`), started: new Date().toISOString() });
    bao = { address: raft.nodes[0]!.address, rootToken: raft.rootToken, caFile: raft.caFile, caPem: raft.caPem, pid: raft.nodes[0]!.pid, client: () => raft.client(), stop: () => raft.stop() };
    vaultAddresses = ports.map((x) => `https://${br.ip}:${x.api}`);
  } else {
    o.say("2/8 OpenBao from vault-dev.hcl, also on the bridge address");
    bao = await startLocalServer({ stateDir: p.baoDir, port: o.baoPort, clusterPort: o.baoClusterPort, detached: true, extraListenIp: br.ip });
    if (!(await tcpOpen(br.ip, o.baoPort))) {
      // A server from an older run listens on loopback only: start it again with the bridge listener.
      await bao.stop();
      await stopLocalServer(p.baoDir);
      bao = await startLocalServer({ stateDir: p.baoDir, port: o.baoPort, clusterPort: o.baoClusterPort, detached: true, extraListenIp: br.ip });
    }
    if (bao.pid) record({ name: "openbao", kind: "bao", pid: bao.pid, argv: readArgv(bao.pid), log: join(p.baoDir, "server.log"), started: new Date().toISOString() });
    vaultAddresses = [`https://${br.ip}:${o.baoPort}`];
  }
  o.say(`  ${bao.address} and ${vaultAddresses.join(", ")} (pid ${bao.pid ?? "?"})`);

  o.say("3/8 inventory and bootstrap");
  const prevTtl = readTtl(p.ttlFile) ?? (existsSync(p.hostsDir) ? source.leafTtl : undefined);
  const ttlSeconds = o.ttlSeconds ?? prevTtl ?? source.leafTtl;
  const inv = parseInventory({ ...source, leafTtl: ttlSeconds, vault: { addresses: vaultAddresses } }, "local cluster inventory (derived)");
  writeFileAtomic(p.inventory, `# Derived by the local cluster from ${o.inventoryFile}: Vault on the bridge, leaf lifetime ${formatDuration(ttlSeconds)}.\n${(await import("yaml")).stringify(inv)}`, { mode: 0o644 });
  if (prevTtl !== undefined && prevTtl !== ttlSeconds && existsSync(p.hostsDir)) {
    o.say(`  lifetime changed from ${formatDuration(prevTtl)} to ${formatDuration(ttlSeconds)}: the hosts start over (stopped, folders removed)`);
    await stopHosts(o, p, source, spec);
    rmSync(p.hostsDir, { recursive: true, force: true });
  }
  writeFileAtomic(p.ttlFile, `${ttlSeconds}\n`, { mode: 0o644 });
  o.say(`  leaf certificates live ${formatDuration(ttlSeconds)}`);
  const root = bao.client();
  try {
    const b = await bootstrap(root, inv, { auditFile: join(resolve(p.baoDir), "audit.log") });
    o.say(`  bootstrap: ${b.counts.create} created, ${b.counts.update} updated, ${b.counts.delete} deleted, ${b.counts.unchanged} unchanged`);

    o.say("4/8 host plans: files, agent configs, units; each host in its namespaces under its supervisor");
    writeSystemctl(p, o.projectRoot);
    const prepared: PreparedHost[] = [];
    for (const [i, host] of inv.hosts.entries()) {
      const cg = ns.cgroupName(spec, host.name);
      const planOpts = localPlanOptions({ vaultAddresses, vaultCaFile: bao.caFile!, cgroupRoot: `/${cg}`, pauseImage: images.pause.ref });
      const prep = await prepareHost(o, p, inv, host, programs, planOpts, root);
      const h: ns.HostNet = { name: host.name, address: host.address, prefixLength: br.prefixLength, index: Number(host.address.split(".")[3]) || i, routes: prep.plan.routes.map((r) => ({ to: r.destination, via: r.via })) };
      ns.ensureHostNet(spec, h);
      const bad = ns.applySysctls(spec, host.name, prep.plan.sysctl);
      if (bad.length > 0) o.say(`  ${host.name}: sysctl not settable in a network namespace, left as the machine has it: ${bad.join(", ")}`);
      writeHostsFile(prep.root, prep.plan.hostNames);
      ns.ensureMountNs(spec, o.stateRoot, host.name, hostBinds(prep.root));
      ns.ensureUtsNs(o.stateRoot, host.name);
      ns.ensureCgroup(`${cg}/hak`);
      prepared.push(prep);
      const name = `host-${host.name}`;
      const prev = procs.find((x) => x.name === name);
      const status = prev ? await supervisorAnswers(prep.socket) : undefined;
      if (prev && status) {
        const a = await control(prep.socket, { op: "reload-units" });
        o.say(`  ${host.name.padEnd(14)} ${host.address.padEnd(12)} running (supervisor pid ${prev.pid}), units ${a.ok ? "reloaded" : `NOT reloaded: ${a.error}`}`);
        continue;
      }
      const proc = spawnSupervisor(o, host.name);
      record(proc);
      o.say(`  ${host.name.padEnd(14)} ${host.address.padEnd(12)} started (supervisor pid ${proc.pid})${prep.enrolled ? ", enrolled (single-use secret ID bound to its address)" : ""}: ${prep.plan.services.map((x) => x.name).join(", ")}`);
    }

    o.say("5/8 images into every node's containerd (no registry)");
    await Promise.all(prepared.filter((h) => isNodeHost(h.host)).map((h) => importImages(p, h, programs, [images.pause, images.busybox])));
    o.say(`  ${images.pause.ref}, ${images.busybox.ref}`);

    o.say("6/8 the API through the load balancers; the plan's RBAC applied with the break-glass identity");
    const kctl = join(programs.binDir, "kubectl");
    const server = apiServerFromPlans(prepared);
    const superConf = await operatorKubeconfig(root, inv, "super-admin", p.superAdminConf, server);
    const adminConf = await operatorKubeconfig(root, inv, "admin", p.adminConf, server);
    const sup = kubectl(kctl, superConf);
    await waitFor("the API server through the virtual IP", 300_000, async () => {
      await assertHostsAlive(procs);
      const r = await sup.run(["get", "--raw", "/readyz"], { timeoutMs: 10_000 });
      if (r.code === 0) return true;
      throw new Error(r.stderr.trim().split("\n").pop() ?? "");
    }, 2000);
    o.say(`  ${(await applyClusterPlan(sup, inv)).join("; ")}`);

    o.say("7/8 every node Ready");
    const admin = kubectl(kctl, adminConf);
    const nodeHosts = inv.hosts.filter(isNodeHost).map((h) => h.name);
    const nodes = await waitFor(`every node Ready (${nodeHosts.join(", ")})`, 300_000, async () => {
      await assertHostsAlive(procs);
      const list = await admin.json<{ items: KubeNode[] }>(["get", "nodes"]);
      const ready = new Set(list.items.filter(nodeReady).map((n) => n.metadata.name));
      return nodeHosts.every((n) => ready.has(n)) ? list.items.map((n) => ({ name: n.metadata.name, ready: nodeReady(n) })) : undefined;
    }, 2000);
    o.say(`  ${(await applyNodeLabels(admin, inv)).join("; ")}`);

    o.say("8/8 hak-pki serve with a read-only (auditor) token");
    const fleetUrl = await startServe(o, p, bao, procs, record);
    startAuditRotator(o, p, procs, record);
    let fleet: Snapshot | undefined;
    try {
      fleet = await waitFor("hak-pki serve", 60_000, () => fetchFleet(fleetUrl));
    } catch (err) {
      o.say(`  ${errorMessage(err)}`);
    }
    const wide = await admin.run(["get", "nodes", "-o", "wide"]);
    return {
      seconds: (performance.now() - started) / 1000,
      vault: { address: bao.address, ui: `${bao.address}/ui/`, caFile: bao.caFile ?? "", rootTokenFile: join(p.baoDir, "init.json") },
      fleetUrl,
      inventory: p.inventory,
      hostsDir: p.hostsDir,
      adminKubeconfig: adminConf,
      kubectl: kctl,
      nodes,
      nodesWide: wide.stdout,
      processes: procs,
      fleet: fleet?.counts,
    };
  } finally {
    await root.close();
  }
}

/**
 * The cluster plan's manifests (RBAC kubeadm would create), applied
 * server-side with the break-glass identity; idempotent.
 */
export async function applyClusterPlan(k: Kubectl, inv: Inventory): Promise<string[]> {
  const applied = await k.run(["apply", "--server-side", "--force-conflicts", "--field-manager=hak", "-f", "-"], { input: manifestsYaml(clusterPlan(inv)) });
  if (applied.code !== 0) throw new HakError(`applying the cluster plan's manifests failed: ${applied.stderr.trim()}`);
  return applied.stdout.trim().split("\n");
}

/** The cluster plan's node labels (kubeadm's control-plane role), once the nodes registered: NodeRestriction keeps kubelets from setting them. */
export async function applyNodeLabels(k: Kubectl, inv: Inventory): Promise<string[]> {
  const out: string[] = [];
  for (const { node, labels } of clusterPlan(inv).nodeLabels) {
    const r = await k.run(["label", "node", node, "--overwrite", ...Object.entries(labels).map(([key, v]) => `${key}=${v}`)]);
    if (r.code !== 0) throw new HakError(`labelling node ${node} failed: ${r.stderr.trim()}`);
    out.push(r.stdout.trim());
  }
  return out;
}

/** The API address the plans give the nodes' kubeconfigs (the load balancers' virtual IP). */
function apiServerFromPlans(hosts: PreparedHost[]): string {
  // A worker's: control planes' own clients talk to their local apiserver, workers through the load balancers.
  for (const h of hosts.filter((x) => x.host.role === "worker"))
    for (const x of h.plan.agent.outputs) if (x.type === "kubeconfig" && x.name === "kubelet-kubeconfig") return x.server;
  throw new HakError("no worker plan names the API server (no kubelet kubeconfig output)");
}

async function assertHostsAlive(procs: DemoProc[]): Promise<void> {
  const dead = procs.find((x) => x.kind === "host" && !isOurs(x));
  if (dead) throw new HakError(`${dead.name}'s supervisor exited:\n${tail(dead.log, 8)}`, { where: dead.log });
}

async function startServe(o: ClusterOptions, p: ClusterPaths, bao: LocalBao, procs: DemoProc[], record: (x: DemoProc) => void): Promise<string> {
  const auditorToken = await validAuditorToken(bao, p.auditorToken);
  const listen = `${o.serveListen.host}:${o.serveListen.port}`;
  const prev = procs.find((x) => x.name === "hak-pki-serve" && isOurs(x));
  if (!prev) {
    record(
      spawnDetached({
        name: "hak-pki-serve",
        kind: "serve",
        command: process.execPath,
        args: [join(o.projectRoot, "bin", "hak-pki.js"), "serve", "-i", p.inventory, "--listen", listen, "--interval", `${o.serveIntervalSeconds}s`, "--drift-every", "6", "--audit-file", join(resolve(p.baoDir), "audit.log"), "--state-file", join(p.dir, "serve", "alerts.json"), "--agent-log", join(p.logs, "{host}-hak-agent.log")],
        cwd: p.dir,
        env: { PATH: process.env.PATH, VAULT_ADDR: bao.address, VAULT_CACERT: bao.caFile, VAULT_TOKEN: auditorToken },
        log: join(p.logs, "serve.log"),
      }),
    );
  }
  return `http://${listen}/`;
}

/** The audit log grows with every request (docs/vault-operations.md): rotated at 64 MiB, 5 kept, while the demo runs. */
function startAuditRotator(o: ClusterOptions, p: ClusterPaths, procs: DemoProc[], record: (x: DemoProc) => void): void {
  if (procs.some((x) => x.name === "openbao-audit-rotate" && isOurs(x))) return;
  record(
    spawnDetached({
      name: "openbao-audit-rotate",
      kind: "serve",
      command: process.execPath,
      args: [join(o.projectRoot, "bin", "hak-pki.js"), "local-server", "rotate-audit", "--state-dir", resolve(p.baoDir), "--max-size", "64M", "--every", "60s"],
      cwd: p.dir,
      env: { PATH: process.env.PATH },
      log: join(p.logs, "audit-rotate.log"),
    }),
  );
}

/** Every unit's status, per host, as its supervisor reports it. */
export async function clusterStatus(stateRoot: string, inv: Inventory): Promise<HostStatus[]> {
  const p = clusterPaths(stateRoot);
  const out: HostStatus[] = [];
  for (const h of inv.hosts) {
    const s = await supervisorAnswers(join(p.runDir, `${h.name}.sock`));
    if (s) out.push(s);
  }
  return out;
}

/** Stops every host: units in reverse order, then every process left in its cgroup, then its namespaces. */
async function stopHosts(o: Pick<ClusterOptions, "prefix" | "stateRoot" | "say">, p: ClusterPaths, inv: Inventory, spec: ns.NetSpec): Promise<void> {
  const procs = readProcs(p.procsFile);
  await Promise.all(
    inv.hosts.map(async (h, i) => {
      const socket = join(p.runDir, `${h.name}.sock`);
      if (existsSync(socket)) await control(socket, { op: "shutdown" }, 5000).catch(() => undefined);
      const sup = procs.find((x) => x.name === `host-${h.name}`);
      if (sup) await stopProc(sup, 40_000);
      const cg = ns.cgroupName(spec, h.name);
      // Pods and containerd shims outlive their parents: kill what is left in the host's cgroup.
      await ns.killCgroup(cg, 50, 200);
      for (let k = 0; k < 20 && !ns.removeCgroup(cg); k++) await sleep(250);
      ns.removeMountNs(o.stateRoot, h.name);
      ns.removeHostNet(spec, { name: h.name, index: Number(h.address.split(".")[3]) || i });
      rmSync(socket, { force: true });
      o.say(`  ${h.name}: stopped`);
    }),
  );
  writeProcs(p.procsFile, procs.filter((x) => x.kind !== "host"));
}

/** Stops the whole local cluster; data stays for the next run. Returns what was left behind (empty when clean). */
export async function clusterStop(o: Pick<ClusterOptions, "prefix" | "stateRoot" | "say">, inventoryFile: string): Promise<string[]> {
  const p = clusterPaths(o.stateRoot);
  let inv: Inventory;
  try {
    inv = loadInventory(existsSync(p.inventory) ? p.inventory : inventoryFile);
  } catch {
    inv = loadInventory(inventoryFile);
  }
  const br = bridgeCidr(inv);
  const spec: ns.NetSpec = { prefix: o.prefix, bridgeCidr: br.cidr };
  const procs = readProcs(p.procsFile);
  for (const x of procs.filter((y) => y.kind === "serve")) o.say(`  ${x.name}: ${await stopProc(x)}`);
  await stopHosts(o, p, inv, spec);
  for (const x of procs.filter((y) => y.kind === "bao")) o.say(`  ${x.name}: ${await stopProc(x)}`);
  if (!procs.some((x) => x.kind === "bao") && (await stopLocalServer(p.baoDir))) o.say("  openbao (pid file): stopped");
  // What the earlier, loopback-only demo recorded (.state/demo/procs.json), if one still runs.
  const legacy = join(o.stateRoot, "demo", "procs.json");
  for (const x of readProcs(legacy)) o.say(`  ${x.name} (earlier demo): ${await stopProc(x)}`);
  if (existsSync(legacy)) writeProcs(legacy, []);
  ns.removeBridge(spec, o.stateRoot);
  writeProcs(p.procsFile, []);
  return ns.leftovers(spec, o.stateRoot);
}

export function renderClusterReport(r: ClusterReport, o: { projectRoot: string; stopCommand: string }): string {
  const rel = (x: string) => (x.startsWith(`${o.projectRoot}/`) ? x.slice(o.projectRoot.length + 1) : x);
  const lines = [
    "",
    r.nodesWide.trimEnd(),
    "",
    `hak local cluster is up (${r.seconds.toFixed(1)}s): ${r.nodes.filter((n) => n.ready).length}/${r.nodes.length} nodes Ready.`,
    "",
    "  Use kubectl with the admin kubeconfig (kubeadm:cluster-admins, signed by Vault):",
    `    export KUBECONFIG=${rel(r.adminKubeconfig)}`,
    `    ${rel(r.kubectl)} get nodes -o wide`,
    `    node bin/hak-deploy.js check --kubeconfig ${rel(r.adminKubeconfig)} -i ${rel(r.inventory)}`,
    "",
    `  Fleet page      ${r.fleetUrl}   (JSON: ${r.fleetUrl}api/fleet, metrics: ${r.fleetUrl}metrics)`,
    `  Vault UI        ${r.vault.ui}   (TLS with the demo's own CA: ${rel(r.vault.caFile)})`,
    `  Log in          token = root_token in ${rel(r.vault.rootTokenFile)} (0600)`,
    `  Hosts           ${rel(r.hostsDir)}/<host>/ = that host's / (plan paths mapped under it); logs in ${rel(join(r.hostsDir, "..", "logs"))}/`,
    `  Inventory       ${rel(r.inventory)}`,
  ];
  if (r.fleet) lines.push(`  Fleet now       ${Object.entries(r.fleet).map(([k, v]) => `${v} ${k}`).join(", ")}`);
  lines.push("", `  Watch rotations: npm run demo -- --ttl 5m     Stop: ${o.stopCommand}`);
  return lines.join("\n");
}

