import { spawn } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, rmSync, statSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { parse, stringify } from "yaml";
import { HakError, errorMessage } from "../common/errors.js";
import { writeFileAtomic } from "../common/fsutil.js";
import type { Inventory } from "../common/inventory.js";
import { restartRaftNode } from "../common/localbao.js";
import { VaultClient } from "../common/vault.js";
import { clusterPaths, hostRoot, raftDir } from "../cluster/cluster.js";
import { killHost, killUnit, partition, startHost, unitStatus, type ClusterRef } from "../cluster/faults.js";
import { readProcs, writeProcs } from "../demo/procs.js";
import { nodeReady, type KubeNode, type Kubectl } from "../deploy/kubectl.js";
import { AGENT_CONFIG_FILE, caFile, certFile, keyFile } from "../plan/paths.js";
import { Prober, summarize, type PhaseSummary, type Sample } from "./probe.js";

/**
 * Issue 12's rows that need the real cluster (src/cluster): kube-apiserver,
 * the controller-manager and scheduler leaders, the etcd leader and its
 * host, a control-plane host, a worker host, the OpenBao raft leader,
 * hak-agent, and partitions of an etcd and a control-plane host. Each row:
 * a client calls the API through the virtual IP every 100 ms (Prober, with
 * the operator's admin certificate, a read that goes to etcd), a workload
 * runs (a Deployment of 2 on the workers), canary renewals run; inject,
 * wait until the cluster is fully functional again, restore, wait again.
 *
 * "Fully functional" is one check that passes as a whole: the last 5 calls
 * through the VIP served; the row's own condition (a new leader elected, the
 * workload's pods moved off a dead node, ...); the workload's 2 replicas
 * Ready off the failed host; a NEW pod scheduled and Running (given 30 s,
 * then deleted and tried again); and a certificate renewal that started
 * after the check began and succeeded.
 *
 * Renewals: the cluster's leaves live for weeks, so its agents do not renew
 * during a row by themselves. A canary does, on hosts the row does not fail:
 * every ~2 s it runs `hak-agent once` in the host's network namespace with
 * that host's own agent config cut to its identity (a cert-auth login, as
 * the running agent does) plus one certificate of the host's (a load
 * balancer's: another of its identity), written to a
 * folder of its own, so every run signs a new certificate through the same
 * Vault addresses, CA and policies the host's agent uses. "Certificates
 * renewed during the fault" counts the canary's signatures in the phase.
 *
 * The rows take a ClusterRef (state folder, prefix, inventory) and the
 * admin kubectl: they do not care who brought the cluster up.
 */

export const CLUSTER_ROW_IDS = [
  "apiserver",
  "controller-manager-leader",
  "scheduler-leader",
  "etcd-leader",
  "etcd-leader-host",
  "controlplane-host",
  "worker-host",
  "openbao-leader",
  "hak-agent",
  "partition-etcd",
  "partition-controlplane",
] as const;
export type ClusterRowId = (typeof CLUSTER_ROW_IDS)[number];

export const CLUSTER_ROW_TITLES: Record<ClusterRowId, string> = {
  apiserver: "one kube-apiserver (SIGKILL)",
  "controller-manager-leader": "the leader kube-controller-manager (SIGKILL)",
  "scheduler-leader": "the leader kube-scheduler (SIGKILL)",
  "etcd-leader": "the etcd leader member (SIGKILL etcd)",
  "etcd-leader-host": "the etcd leader's host (every process SIGKILL, cable out)",
  "controlplane-host": "one control-plane host (every process SIGKILL, cable out)",
  "worker-host": "one worker host (every process SIGKILL, cable out; pods rescheduled)",
  "openbao-leader": "the OpenBao raft leader of 3 (SIGKILL), agents renewing",
  "hak-agent": "hak-agent on a host (SIGKILL)",
  "partition-etcd": "network partition of the etcd leader's host (iptables DROP), then heal",
  "partition-controlplane": "network partition of a control-plane host (iptables DROP), then heal",
};

/** What the restore of each row is. */
const RESTORE_TITLES: Record<ClusterRowId, string> = {
  apiserver: "restarted by its supervisor",
  "controller-manager-leader": "restarted by its supervisor",
  "scheduler-leader": "restarted by its supervisor",
  "etcd-leader": "restarted by its supervisor",
  "etcd-leader-host": "host started again",
  "controlplane-host": "host started again",
  "worker-host": "host started again",
  "openbao-leader": "node started again, unsealed",
  "hak-agent": "restarted by its supervisor",
  "partition-etcd": "healed",
  "partition-controlplane": "healed",
};

export interface RowContext {
  ref: ClusterRef;
  admin: Kubectl;
  /** https://VIP:port, from the inventory. */
  apiUrl: string;
  tls: { ca: string; cert: string; key: string };
  etcdctl: string;
  say: (line: string) => void;
}

/** The rows' context from a running local cluster: its derived inventory, the admin kubeconfig's credentials. */
export function rowContext(o: { projectRoot: string; stateRoot: string; prefix: string; inventory: Inventory; admin: Kubectl; etcdctl: string; say?: (l: string) => void }): RowContext {
  const kc = parse(readFileSync(o.admin.kubeconfig, "utf8")) as {
    clusters: { cluster: { server: string; "certificate-authority-data": string } }[];
    users: { user: { "client-certificate-data": string; "client-key-data": string } }[];
  };
  const b64 = (s: string) => Buffer.from(s, "base64").toString("utf8");
  return {
    ref: { projectRoot: o.projectRoot, stateRoot: o.stateRoot, prefix: o.prefix, inventory: o.inventory },
    admin: o.admin,
    apiUrl: kc.clusters[0]!.cluster.server,
    tls: { ca: b64(kc.clusters[0]!.cluster["certificate-authority-data"]), cert: b64(kc.users[0]!.user["client-certificate-data"]), key: b64(kc.users[0]!.user["client-key-data"]) },
    etcdctl: o.etcdctl,
    say: o.say ?? (() => {}),
  };
}

// ---------------------------------------------------------------- probes of the cluster's state

function runCmd(cmd: string, args: string[], timeoutMs: number): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((res) => {
    const c = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    const t = setTimeout(() => c.kill("SIGKILL"), timeoutMs);
    c.stdout.on("data", (d: Buffer) => (out += d.toString()));
    c.stderr.on("data", (d: Buffer) => (err += d.toString()));
    c.on("error", (e) => ((err += e.message), clearTimeout(t), res({ code: null, out, err })));
    c.on("close", (code) => (clearTimeout(t), res({ code, out, err })));
  });
}

const hostsOf = (ctx: RowContext, role: string) => ctx.ref.inventory.hosts.filter((h) => h.role === role).map((h) => h.name);
const addressOf = (ctx: RowContext, host: string) => ctx.ref.inventory.hosts.find((h) => h.name === host)!.address;

/** Every etcd member's view (etcdctl endpoint status, the apiserver's etcd client certificate of a control plane): which host leads, which answer. */
export async function etcdView(ctx: RowContext, only?: string[]): Promise<{ leader?: string; answering: string[]; term: number }> {
  const hosts = only ?? hostsOf(ctx, "etcd");
  const cp = hostsOf(ctx, "controlplane")[0]!;
  const hr = hostRoot(clusterPaths(ctx.ref.stateRoot), cp);
  const eps = hosts.map((h) => `https://${addressOf(ctx, h)}:2379`);
  const r = await runCmd(
    ctx.etcdctl,
    [`--endpoints=${eps.join(",")}`, `--cacert=${join(hr, caFile("etcd"))}`, `--cert=${join(hr, certFile("apiserver-etcd-client"))}`, `--key=${join(hr, keyFile("apiserver-etcd-client"))}`, "--dial-timeout=2s", "--command-timeout=3s", "endpoint", "status", "-w", "json"],
    10_000,
  );
  let list: { Endpoint: string; Status: { header: { member_id: number | string; raft_term?: number }; leader: number | string; raftTerm?: number } }[] = [];
  try {
    list = JSON.parse(r.out || "[]");
  } catch {
    list = [];
  }
  const hostOf = (ep: string) => hosts.find((h) => ep.includes(`//${addressOf(ctx, h)}:`));
  const answering = list.map((x) => hostOf(x.Endpoint)).filter((x): x is string => !!x);
  // A member that leads says so itself: its own id is the leader it reports.
  const leaderEntry = list.find((x) => String(x.Status.header.member_id) === String(x.Status.leader));
  const leader = leaderEntry ? hostOf(leaderEntry.Endpoint) : undefined;
  return { leader, answering, term: Math.max(0, ...list.map((x) => Number(x.Status.raftTerm ?? x.Status.header.raft_term ?? 0))) };
}

/** The holder of a kube-system Lease (kube-controller-manager, kube-scheduler): its identity and host. */
export async function leaseHolder(ctx: RowContext, name: string): Promise<{ identity: string; host: string } | undefined> {
  const r = await ctx.admin.run(["-n", "kube-system", "get", "lease", name, "-o", "jsonpath={.spec.holderIdentity}"], { timeoutMs: 10_000 });
  const id = r.code === 0 ? r.stdout.trim() : "";
  return id ? { identity: id, host: id.split("_")[0]! } : undefined;
}

async function nodesReady(ctx: RowContext): Promise<Set<string>> {
  try {
    const list = await ctx.admin.json<{ items: KubeNode[] }>(["get", "nodes", "--request-timeout=10s"]);
    return new Set(list.items.filter(nodeReady).map((n) => n.metadata.name));
  } catch {
    return new Set();
  }
}

function raftClient(ctx: RowContext): VaultClient | undefined {
  const dir = raftDir(clusterPaths(ctx.ref.stateRoot));
  if (!existsSync(join(dir, "init.json"))) return undefined;
  const { root_token } = JSON.parse(readFileSync(join(dir, "init.json"), "utf8")) as { root_token: string };
  return new VaultClient({ addresses: ctx.ref.inventory.vault!.addresses, token: root_token, tls: { ca: readFileSync(join(dir, "tls", "ca.crt"), "utf8") }, timeoutMs: 5_000 });
}

/** The raft leader's node index (its API address among the inventory's Vault addresses) and how many voters are healthy. */
export async function raftView(ctx: RowContext): Promise<{ leader?: number; healthyVoters: number }> {
  const c = raftClient(ctx);
  if (!c) return { healthyVoters: 0 };
  try {
    const l = await c.readBare<{ leader_address: string }>("sys/leader").catch(() => undefined);
    const leader = l ? ctx.ref.inventory.vault!.addresses.indexOf(l.leader_address) : -1;
    const st = await c.read<{ servers: Record<string, { healthy: boolean; status: string }> }>("sys/storage/raft/autopilot/state").catch(() => undefined);
    const servers = Object.values((st as unknown as { servers?: Record<string, { healthy: boolean; status: string }> })?.servers ?? {});
    return { leader: leader >= 0 ? leader : undefined, healthyVoters: servers.filter((s) => s.healthy && (s.status === "voter" || s.status === "leader")).length };
  } finally {
    await c.close();
  }
}

// ---------------------------------------------------------------- the workload and the new-pod check

export const HA_NAMESPACE = "hak-ha";
const IMAGE = "hak.local/busybox:1.35";
/**
 * How long the workload's pods stay on a node that stopped answering: 5 s
 * instead of the 300 s Kubernetes' DefaultTolerationSeconds admission gives
 * every pod (node.kubernetes.io/not-ready and unreachable), so the worker
 * row ends in bounded time: node-monitor-grace-period (50 s) + 5 s + a
 * reschedule. A production workload that must move fast sets the same.
 */
export const WORKLOAD_TOLERATION_SECONDS = 5;

function workloadYaml(): string {
  const tolerations = ["node.kubernetes.io/unreachable", "node.kubernetes.io/not-ready"].map((key) => ({ key, operator: "Exists", effect: "NoExecute", tolerationSeconds: WORKLOAD_TOLERATION_SECONDS }));
  return [
    stringify({ apiVersion: "v1", kind: "Namespace", metadata: { name: HA_NAMESPACE } }),
    stringify({
      apiVersion: "apps/v1",
      kind: "Deployment",
      metadata: { name: "ha-web", namespace: HA_NAMESPACE },
      spec: {
        replicas: 2,
        selector: { matchLabels: { app: "ha-web" } },
        template: {
          metadata: { labels: { app: "ha-web" } },
          spec: {
            terminationGracePeriodSeconds: 1,
            tolerations,
            // One per worker when both are up; both on one when the other is gone.
            affinity: { podAntiAffinity: { preferredDuringSchedulingIgnoredDuringExecution: [{ weight: 100, podAffinityTerm: { topologyKey: "kubernetes.io/hostname", labelSelector: { matchLabels: { app: "ha-web" } } } }] } },
            containers: [
              {
                name: "web",
                image: IMAGE,
                imagePullPolicy: "IfNotPresent",
                command: ["sh", "-c", "mkdir -p /w && hostname > /w/index.html && exec httpd -f -p 8080 -h /w"],
                readinessProbe: { tcpSocket: { port: 8080 }, periodSeconds: 2 },
              },
            ],
          },
        },
      },
    }),
  ].join("---\n");
}

interface PodItem {
  metadata: { name: string; deletionTimestamp?: string };
  spec: { nodeName?: string };
  status: { phase?: string; conditions?: { type: string; status: string }[] };
}

/** The workload's Ready pods (not being deleted), by node. */
export async function workloadPods(ctx: RowContext): Promise<{ name: string; node: string }[]> {
  try {
    const l = await ctx.admin.json<{ items: PodItem[] }>(["-n", HA_NAMESPACE, "get", "pods", "-l", "app=ha-web", "--request-timeout=10s"]);
    return l.items
      .filter((p) => !p.metadata.deletionTimestamp && p.status.conditions?.some((c) => c.type === "Ready" && c.status === "True"))
      .map((p) => ({ name: p.metadata.name, node: p.spec.nodeName ?? "" }));
  } catch {
    return [];
  }
}

export async function ensureWorkload(ctx: RowContext, timeoutMs = 180_000): Promise<void> {
  const r = await ctx.admin.run(["apply", "-f", "-"], { input: workloadYaml() });
  if (r.code !== 0) throw new HakError(`applying the HA workload failed: ${r.stderr.trim()}`);
  for (const end = Date.now() + timeoutMs; Date.now() < end; await sleep(1000)) if ((await workloadPods(ctx)).length >= 2) return;
  throw new HakError("the HA workload (2 replicas) did not become Ready");
}

let podSeq = 0;
/** A new pod (no node named: the scheduler picks) Running within `timeoutMs`; deleted after, either way. */
export async function newPodRuns(ctx: RowContext, timeoutMs = 30_000): Promise<{ ok: boolean; node?: string; detail: string }> {
  const name = `ha-new-${process.pid}-${++podSeq}`;
  const pod = stringify({
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name, namespace: HA_NAMESPACE, labels: { app: "ha-new" } },
    spec: { terminationGracePeriodSeconds: 0, containers: [{ name: "c", image: IMAGE, imagePullPolicy: "IfNotPresent", command: ["sleep", "3600"] }] },
  });
  try {
    const c = await ctx.admin.run(["create", "-f", "-", "--request-timeout=10s"], { input: pod, timeoutMs: 15_000 });
    if (c.code !== 0) return { ok: false, detail: `create: ${c.stderr.trim().split("\n").pop()}` };
    let last = "";
    for (const end = Date.now() + timeoutMs; Date.now() < end; await sleep(500)) {
      const g = await ctx.admin.run(["-n", HA_NAMESPACE, "get", "pod", name, "--request-timeout=5s", "-o", "jsonpath={.status.phase} {.spec.nodeName}"], { timeoutMs: 10_000 });
      last = g.stdout.trim() || g.stderr.trim();
      const [phase, node] = g.stdout.trim().split(" ");
      if (phase === "Running") return { ok: true, node, detail: "Running" };
    }
    return { ok: false, detail: `not Running in ${timeoutMs / 1000}s: ${last}` };
  } finally {
    void ctx.admin.run(["-n", HA_NAMESPACE, "delete", "pod", name, "--grace-period=0", "--force", "--wait=false", "--ignore-not-found"], { timeoutMs: 30_000 });
  }
}

/** Removes the workload and every pod the rows made. */
export async function removeWorkload(ctx: RowContext): Promise<void> {
  await ctx.admin.run(["delete", "namespace", HA_NAMESPACE, "--wait=false", "--ignore-not-found"], { timeoutMs: 30_000 });
}

// ---------------------------------------------------------------- renewals: the canary

export interface Renewal {
  host: string;
  start: number;
  end: number;
  ok: boolean;
  error?: string;
}

interface AgentConfigDoc {
  outputs: ({ type: string; name: string; profile?: string; certFile?: string; keyFile?: string; caFile?: string; actions?: unknown[] } & Record<string, unknown>)[];
  auth: { identityOutput?: string; secretIdFile: string } & Record<string, unknown>;
  listen?: string;
}

/**
 * Renewals on the given hosts, every `everyMs`, each a `hak-agent once` in
 * the host's network namespace with a config cut from the host's own: its
 * identity (unchanged, so the login is the host's cert auth) and its first
 * other certificate, written to a canary folder (emptied before each run, so
 * each run signs one).
 */
export class Canary {
  readonly runs: Renewal[] = [];
  private stopped = false;
  private loops: Promise<void>[] = [];

  constructor(private readonly ctx: RowContext, private readonly hosts: string[], private readonly everyMs = 2_000) {}

  private prepare(host: string): { cfg: string; dir: string } {
    const hr = hostRoot(clusterPaths(this.ctx.ref.stateRoot), host);
    const doc = JSON.parse(readFileSync(join(hr, AGENT_CONFIG_FILE), "utf8")) as AgentConfigDoc;
    const dir = join(clusterPaths(this.ctx.ref.stateRoot).dir, "ha-canary", host);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const idName = doc.auth.identityOutput ?? "host-identity";
    const identity = doc.outputs.find((x) => x.name === idName);
    // A load balancer holds its identity only: then the canary signs another of that.
    const other = doc.outputs.find((x) => x.type === "certificate" && x.name !== idName) ?? identity;
    if (!identity || !other) throw new HakError(`${host}'s agent config has no identity certificate`);
    const canary = { ...other, name: `${other.name}-canary`, certFile: join(dir, "canary.crt"), keyFile: join(dir, "canary.key"), caFile: join(dir, "canary-ca.crt"), actions: [] };
    const cfg = { ...doc, auth: { ...doc.auth, secretIdFile: join(dir, "secret-id") }, outputs: [identity, canary] };
    delete cfg.listen;
    const file = join(dir, "agent.json");
    writeFileAtomic(file, `${JSON.stringify(cfg, null, 2)}\n`, { mode: 0o600 });
    return { cfg: file, dir };
  }

  start(): void {
    for (const host of this.hosts) {
      const { cfg, dir } = this.prepare(host);
      this.loops.push(
        (async () => {
          while (!this.stopped) {
            for (const f of ["canary.crt", "canary.key"]) rmSync(join(dir, f), { force: true });
            const start = performance.now();
            const r = await runCmd("nsenter", [`--net=/run/netns/${this.ctx.ref.prefix}-${host}`, "--", process.execPath, join(this.ctx.ref.projectRoot, "bin", "hak-agent.js"), "once", cfg], 30_000);
            const ok = r.code === 0 && existsSync(join(dir, "canary.crt"));
            this.runs.push({ host, start, end: performance.now(), ok, ...(ok ? {} : { error: lastError(r.err) }) });
            await sleep(this.everyMs);
          }
        })(),
      );
    }
  }

  /** Whether a renewal that started at or after `since` (performance.now()) succeeded. */
  renewedSince(since: number): boolean {
    return this.runs.some((r) => r.ok && r.start >= since);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.all(this.loops);
  }
}

function lastError(stderr: string): string {
  const lines = stderr.trim().split("\n").filter(Boolean);
  for (const l of lines.reverse()) {
    try {
      const j = JSON.parse(l) as { err?: string; msg?: string };
      if (j.err) return j.err.slice(0, 200);
    } catch {
      return l.slice(0, 200);
    }
  }
  return "failed";
}

export function renewalsIn(runs: readonly Renewal[], from: number, to = Number.POSITIVE_INFINITY): { ok: number; total: number; errors: Record<string, number> } {
  const r = runs.filter((x) => x.start >= from && x.start < to);
  const errors: Record<string, number> = {};
  for (const x of r) if (!x.ok) errors[`${x.host}: ${x.error ?? "failed"}`] = (errors[`${x.host}: ${x.error ?? "failed"}`] ?? 0) + 1;
  return { ok: r.filter((x) => x.ok).length, total: r.length, errors };
}

// ---------------------------------------------------------------- the rows

interface RowState {
  host: string;
  pid?: number;
  identity?: string;
  etcdLeader?: string;
  /** The etcd raft term before the fault: a later one means an election was held. */
  etcdTerm?: number;
  raftLeader?: number;
  /** Certificate files of the host and their mtimes before the fault (hak-agent row). */
  certMtimes?: Map<string, number>;
}

interface RowDef {
  /** Choose the target and inject; returns what restore and the checks need. */
  inject(ctx: RowContext): Promise<RowState>;
  /** The row's own part of "functional again" during the fault (a new leader, pods moved, ...). */
  faultDone?(ctx: RowContext, s: RowState): Promise<boolean>;
  restore?(ctx: RowContext, s: RowState): Promise<void>;
  /** The failed part is back (unit ready, node Ready, member healthy). */
  restored(ctx: RowContext, s: RowState): Promise<boolean>;
  /** Keep the fault at least this long even when the cluster is functional sooner. */
  minFaultMs?: number;
  /** Hosts whose workload pods and new pods do not count while the fault lasts (a dead or cut-off node). */
  excludeNode?: (s: RowState) => string | undefined;
  canaryHosts?: string[];
}

/** The unit is ready again, in a process other than the one killed. */
const unitBack = (unit: string) => async (ctx: RowContext, s: RowState) => {
  const u = await unitStatus(ctx.ref, s.host, unit);
  return u?.state === "ready" && u.pid !== s.pid;
};

async function etcdAllHealthy(ctx: RowContext): Promise<boolean> {
  const v = await etcdView(ctx);
  return v.answering.length === hostsOf(ctx, "etcd").length && v.leader !== undefined;
}

async function hostBack(ctx: RowContext, host: string): Promise<boolean> {
  const role = ctx.ref.inventory.hosts.find((h) => h.name === host)!.role;
  if (role === "etcd") return etcdAllHealthy(ctx);
  if (!(await nodesReady(ctx)).has(host)) return false;
  if (role === "controlplane") return (await unitStatus(ctx.ref, host, "kube-apiserver"))?.state === "ready";
  return true;
}

function certMtimes(ctx: RowContext, host: string): Map<string, number> {
  const dir = join(hostRoot(clusterPaths(ctx.ref.stateRoot), host), "var", "lib", "hak-agent");
  const out = new Map<string, number>();
  const walk = (d: string) => {
    if (!existsSync(d)) return;
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (/\.(crt|pem|conf)$/.test(e.name)) out.set(p, statSync(p).mtimeMs);
    }
  };
  walk(dir);
  return out;
}

async function leaderRow(ctx: RowContext, lease: string): Promise<RowState> {
  const h = await leaseHolder(ctx, lease);
  if (!h) throw new HakError(`no holder of the ${lease} lease`);
  const pid = await killUnit(ctx.ref, h.host, lease);
  return { host: h.host, pid, identity: h.identity };
}

const newHolder = (lease: string) => async (ctx: RowContext, s: RowState) => {
  const h = await leaseHolder(ctx, lease);
  return !!h && h.identity !== s.identity;
};

const notOn = (lease: string) => async (ctx: RowContext, s: RowState) => {
  const h = await leaseHolder(ctx, lease);
  return !!h && h.host !== s.host;
};

/** A dead host's restore: it boots again; its node and pods do not count until it is back. */
const hostComesBack: Pick<RowDef, "restore" | "restored" | "excludeNode"> = {
  restore: async (c, s) => startHost(c.ref, s.host),
  restored: (c, s) => hostBack(c, s.host),
  excludeNode: (s) => s.host,
};

function rowDefs(ctx: RowContext): Record<ClusterRowId, RowDef> {
  const cps = hostsOf(ctx, "controlplane");
  const workers = hostsOf(ctx, "worker");
  return {
    apiserver: {
      async inject(c) {
        const host = cps[0]!;
        return { host, pid: await killUnit(c.ref, host, "kube-apiserver") };
      },
      restored: unitBack("kube-apiserver"),
    },
    "controller-manager-leader": {
      inject: (c) => leaderRow(c, "kube-controller-manager"),
      faultDone: newHolder("kube-controller-manager"),
      restored: unitBack("kube-controller-manager"),
    },
    "scheduler-leader": {
      inject: (c) => leaderRow(c, "kube-scheduler"),
      faultDone: newHolder("kube-scheduler"),
      restored: unitBack("kube-scheduler"),
    },
    "etcd-leader": {
      async inject(c) {
        const v = await etcdView(c);
        if (!v.leader) throw new HakError("no etcd leader before the row");
        return { host: v.leader, etcdLeader: v.leader, etcdTerm: v.term, pid: await killUnit(c.ref, v.leader, "etcd") };
      },
      // An election was held and there is a leader. Not "another member leads": the killed member is
      // back from its supervisor within a second or two and may win that election itself (seen in CI).
      async faultDone(c, s) {
        const v = await etcdView(c);
        return v.leader !== undefined && v.term > (s.etcdTerm ?? 0);
      },
      restored: async (c, s) => (await unitBack("etcd")(c, s)) && etcdAllHealthy(c),
    },
    "etcd-leader-host": {
      async inject(c) {
        const v = await etcdView(c);
        if (!v.leader) throw new HakError("no etcd leader before the row");
        await killHost(c.ref, v.leader);
        return { host: v.leader, etcdLeader: v.leader };
      },
      async faultDone(c, s) {
        const v = await etcdView(c, hostsOf(c, "etcd").filter((h) => h !== s.host));
        return v.leader !== undefined && v.leader !== s.host;
      },
      restore: async (c, s) => startHost(c.ref, s.host),
      restored: (c, s) => hostBack(c, s.host),
    },
    "controlplane-host": {
      async inject(c) {
        // The host of the controller manager's leader: the row loses a leader too.
        const host = (await leaseHolder(c, "kube-controller-manager"))?.host ?? cps[0]!;
        await killHost(c.ref, host);
        return { host };
      },
      faultDone: async (c, s) => (await notOn("kube-controller-manager")(c, s)) && (await notOn("kube-scheduler")(c, s)),
      ...hostComesBack,
    },
    "worker-host": {
      async inject(c) {
        // A worker that runs a pod of the workload (one does, with both up).
        const pods = await workloadPods(c);
        const host = workers.find((w) => pods.some((p) => p.node === w) && w !== workers[workers.length - 1]) ?? workers[0]!;
        await killHost(c.ref, host);
        return { host };
      },
      // Both replicas Ready elsewhere: the check counts only pods off the dead node.
      ...hostComesBack,
    },
    "openbao-leader": {
      async inject(c) {
        const v = await raftView(c);
        if (v.leader === undefined) throw new HakError("no OpenBao raft leader before the row (the cluster runs with --bao-nodes 3?)");
        const proc = readProcs(clusterPaths(c.ref.stateRoot).procsFile).find((x) => x.name === `openbao-node${v.leader}`);
        if (!proc) throw new HakError(`openbao-node${v.leader} is not in procs.json`);
        process.kill(proc.pid, "SIGKILL");
        return { host: `openbao-node${v.leader}`, raftLeader: v.leader, pid: proc.pid };
      },
      async faultDone(c, s) {
        const v = await raftView(c);
        return v.leader !== undefined && v.leader !== s.raftLeader;
      },
      async restore(c, s) {
        const i = s.raftLeader!;
        const port = Number(new URL(c.ref.inventory.vault!.addresses[i]!).port);
        const p = clusterPaths(c.ref.stateRoot);
        const pid = await restartRaftNode(raftDir(p), i, port);
        const procs = readProcs(p.procsFile);
        const me = procs.find((x) => x.name === s.host);
        if (me) {
          me.pid = pid;
          me.started = new Date().toISOString();
          writeProcs(p.procsFile, procs);
        }
      },
      restored: async (c) => (await raftView(c)).healthyVoters === c.ref.inventory.vault!.addresses.length,
      canaryHosts: [hostsOf(ctx, "etcd")[0]!, cps[1]!, workers[workers.length - 1]!],
    },
    "hak-agent": {
      async inject(c) {
        const host = workers[workers.length - 1]!;
        const certMtimesBefore = certMtimes(c, host);
        return { host, certMtimes: certMtimesBefore, pid: await killUnit(c.ref, host, "hak-agent") };
      },
      async restored(c, s) {
        if (!(await unitBack("hak-agent")(c, s))) return false;
        // It answers ready again (every output valid), in its host's namespace.
        const r = await runCmd("nsenter", [`--net=/run/netns/${c.ref.prefix}-${s.host}`, "--", "curl", "-sf", "--max-time", "3", "http://127.0.0.1:9180/readyz"], 5_000);
        return r.code === 0;
      },
    },
    "partition-etcd": {
      async inject(c) {
        const v = await etcdView(c);
        if (!v.leader) throw new HakError("no etcd leader before the row");
        partition(c.ref, v.leader, true);
        return { host: v.leader, etcdLeader: v.leader };
      },
      async faultDone(c, s) {
        const v = await etcdView(c, hostsOf(c, "etcd").filter((h) => h !== s.host));
        return v.leader !== undefined && v.leader !== s.host;
      },
      // Long enough for the cut-off member to notice it lost the quorum (etcd's check-quorum: an election timeout).
      minFaultMs: 15_000,
      restore: async (c, s) => partition(c.ref, s.host, false),
      restored: (c) => etcdAllHealthy(c),
    },
    "partition-controlplane": {
      async inject(c) {
        const host = (await leaseHolder(c, "kube-controller-manager"))?.host ?? cps[0]!;
        partition(c.ref, host, true);
        return { host };
      },
      faultDone: async (c, s) => (await notOn("kube-controller-manager")(c, s)) && (await notOn("kube-scheduler")(c, s)),
      minFaultMs: 20_000,
      restore: async (c, s) => partition(c.ref, s.host, false),
      restored: async (c, s) => (await hostBack(c, s.host)) && (await apiserverReadyFrom(c, s.host)),
      excludeNode: (s) => s.host,
    },
  };
}

/** The control plane's apiserver answers /readyz on its address from the root namespace (as haproxy sees it). */
async function apiserverReadyFrom(ctx: RowContext, host: string): Promise<boolean> {
  return new Promise((res) => {
    void import("node:https").then(({ request }) => {
      const req = request(`https://${addressOf(ctx, host)}:${ctx.ref.inventory.apiPort}/readyz`, { ca: ctx.tls.ca, cert: ctx.tls.cert, key: ctx.tls.key, agent: false, timeout: 3000 }, (r) => {
        r.resume();
        res(r.statusCode === 200);
      });
      req.on("timeout", () => req.destroy(new Error("timeout")));
      req.on("error", () => res(false));
      req.end();
    });
  });
}

export interface ClusterPhase {
  summary: PhaseSummary;
  /** ms from the phase's start until the whole functional check passed (and, for a restore, the failed part was back); undefined: not within the bound. */
  functionalMs: number | undefined;
  renewed: { ok: number; total: number; errors: Record<string, number> };
  /** The last failed check's reasons, when it never passed. */
  lastFailure?: string;
  /** Why the check failed before it passed, each change with its time in the phase. */
  trail: string[];
}

export interface ClusterRowResult {
  id: ClusterRowId;
  failure: string;
  restoreTitle: string;
  target: string;
  baseline: PhaseSummary;
  fault: ClusterPhase;
  restore: ClusterPhase;
  notes: string[];
}

export interface ClusterRowOptions {
  /** Give up on the fault phase after this long (the test's bound plus slack). */
  faultTimeoutMs?: number;
  restoreTimeoutMs?: number;
}

/** One pass of the functional check; undefined when it passed, else why not. */
async function checkOnce(ctx: RowContext, prober: Prober, canary: Canary, def: RowDef, s: RowState | undefined, phase: "fault" | "restore" | "steady"): Promise<string | undefined> {
  const started = performance.now();
  const last = prober.snapshot().slice(-5);
  if (last.length < 5 || !last.every((x) => x.ok)) return `API: ${last.filter((x) => !x.ok).length} of the last 5 calls failed`;
  if (s && phase === "fault" && def.faultDone && !(await def.faultDone(ctx, s))) return "the row's condition (new leader / pods moved) not met yet";
  if (s && phase === "restore" && !(await def.restored(ctx, s))) return `${s.host} not back yet`;
  const exclude = s && phase === "fault" ? def.excludeNode?.(s) : undefined;
  const pods = (await workloadPods(ctx)).filter((p) => p.node !== exclude);
  if (pods.length < 2) return `workload: ${pods.length} of 2 replicas Ready${exclude ? ` off ${exclude}` : ""}`;
  const np = await newPodRuns(ctx);
  if (!np.ok) return `new pod: ${np.detail}`;
  if (exclude && np.node === exclude) return `new pod ran on ${exclude}`;
  for (const end = performance.now() + 20_000; performance.now() < end && !canary.renewedSince(started); ) await sleep(250);
  if (!canary.renewedSince(started)) return `renewal: none succeeded since the check began (${canary.runs.filter((r) => r.start >= started).map((r) => r.error).join("; ") || "none ran"})`;
  const after = prober.snapshot().filter((x) => x.start >= started);
  if (after.length > 0 && !after.slice(-5).every((x) => x.ok)) return "API: calls failed during the check";
  return undefined;
}

async function until(ctx: RowContext, prober: Prober, canary: Canary, def: RowDef, s: RowState | undefined, phase: "fault" | "restore" | "steady", from: number, timeoutMs: number, minMs = 0): Promise<{ at?: number; last?: string; trail: string[] }> {
  let last: string | undefined;
  // Each change of the reason the check failed, with when (s after the phase began): what the time until functional was spent on.
  const trail: string[] = [];
  for (const end = from + timeoutMs; performance.now() < end; await sleep(500)) {
    last = await checkOnce(ctx, prober, canary, def, s, phase);
    const what = last?.replace(/\d+/g, "#");
    if (what && !trail.at(-1)?.endsWith(what)) trail.push(`${((performance.now() - from) / 1000).toFixed(1)}s ${what}`);
    if (last === undefined) {
      const at = performance.now();
      if (at - from < minMs) await sleep(minMs - (at - from));
      return { at, trail };
    }
  }
  return { last, trail };
}

/** Steady state before a row: every node Ready, every etcd member and OpenBao node healthy, the workload at 2. */
export async function waitSteady(ctx: RowContext, timeoutMs = 240_000): Promise<void> {
  let why = "";
  for (const end = Date.now() + timeoutMs; Date.now() < end; await sleep(1000)) {
    const nodes = await nodesReady(ctx);
    const want = ctx.ref.inventory.hosts.filter((h) => h.role === "controlplane" || h.role === "worker").map((h) => h.name);
    if (!want.every((n) => nodes.has(n))) {
      why = `nodes not Ready: ${want.filter((n) => !nodes.has(n)).join(", ")}`;
      continue;
    }
    if (!(await etcdAllHealthy(ctx))) {
      why = "etcd: not every member answers";
      continue;
    }
    const vault = ctx.ref.inventory.vault?.addresses.length ?? 1;
    if (vault > 1 && (await raftView(ctx)).healthyVoters !== vault) {
      why = "OpenBao: not every raft node is a healthy voter";
      continue;
    }
    if ((await workloadPods(ctx)).length < 2) {
      why = "workload not at 2 Ready";
      continue;
    }
    return;
  }
  throw new HakError(`the cluster is not in its steady state: ${why}`);
}

export async function runClusterRow(ctx: RowContext, id: ClusterRowId, o: ClusterRowOptions = {}): Promise<ClusterRowResult> {
  const def = rowDefs(ctx)[id];
  await waitSteady(ctx);
  const workers = hostsOf(ctx, "worker");
  const prober = new Prober({ url: `${ctx.apiUrl}/api/v1/namespaces/default`, ca: ctx.tls.ca, cert: ctx.tls.cert, key: ctx.tls.key, intervalMs: 100, timeoutMs: 2_000 });
  // Renewals on hosts no row fails: the last load balancer, and the last worker (the hak-agent row kills its agent, not the host).
  const canary = new Canary(ctx, def.canaryHosts ?? [hostsOf(ctx, "loadbalancer").at(-1)!, workers.at(-1)!]);
  prober.start();
  canary.start();
  const notes: string[] = [];
  try {
    const t0 = prober.now();
    const steady = await until(ctx, prober, canary, def, undefined, "steady", t0, 120_000);
    if (steady.at === undefined) throw new HakError(`row ${id}: the cluster is not functional before the fault: ${steady.last}`);
    const tBase = prober.now();
    await sleep(1_000);
    const tFault = prober.now();
    ctx.say(`row ${id}: inject`);
    const s = await def.inject(ctx);
    ctx.say(`row ${id}: ${s.host}${s.pid ? ` (pid ${s.pid})` : ""}`);
    const f = await until(ctx, prober, canary, def, s, "fault", tFault, o.faultTimeoutMs ?? 180_000, def.minFaultMs ?? 0);
    const tRestore = prober.now();
    if (id === "hak-agent") {
      const before = s.certMtimes!;
      const changed = [...certMtimes(ctx, s.host)].filter(([p, m]) => before.get(p) !== m).length;
      notes.push(`${changed} of ${before.size} certificate/kubeconfig files rewritten after the agent's restart`);
    }
    ctx.say(`row ${id}: ${f.at === undefined ? `not functional: ${f.last}` : `functional after ${((f.at - tFault) / 1000).toFixed(1)} s`}; restore`);
    await def.restore?.(ctx, s);
    const r = await until(ctx, prober, canary, def, s, "restore", tRestore, o.restoreTimeoutMs ?? 240_000);
    const tEnd = prober.now();
    ctx.say(`row ${id}: ${r.at === undefined ? `not back: ${r.last}` : `back after ${((r.at - tRestore) / 1000).toFixed(1)} s`}`);
    const samples: Sample[] = await prober.stop();
    await canary.stop();
    if (s.identity) {
      const lease = id === "scheduler-leader" ? "kube-scheduler" : "kube-controller-manager";
      notes.push(`new ${lease} leader: ${(await leaseHolder(ctx, lease))?.host ?? "none"}`);
    }
    if (s.etcdLeader) notes.push(`etcd leader after: ${(await etcdView(ctx)).leader ?? "none"}`);
    if (s.raftLeader !== undefined) notes.push(`raft leader node${s.raftLeader} -> node${(await raftView(ctx)).leader ?? "?"}`);
    return {
      id,
      failure: CLUSTER_ROW_TITLES[id],
      restoreTitle: RESTORE_TITLES[id],
      target: s.host,
      baseline: summarize(samples, tBase, tFault),
      fault: { summary: summarize(samples, tFault, tRestore), functionalMs: f.at === undefined ? undefined : f.at - tFault, renewed: renewalsIn(canary.runs, tFault, tRestore), trail: f.trail, ...(f.last ? { lastFailure: f.last } : {}) },
      restore: { summary: summarize(samples, tRestore, tEnd), functionalMs: r.at === undefined ? undefined : r.at - tRestore, renewed: renewalsIn(canary.runs, tRestore, tEnd), trail: r.trail, ...(r.last ? { lastFailure: r.last } : {}) },
      notes,
    };
  } catch (err) {
    await prober.stop();
    await canary.stop();
    throw new HakError(`row ${id}: ${errorMessage(err)}`);
  }
}
