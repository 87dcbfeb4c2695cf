import { execFile, spawn, spawnSync, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chmodSync, closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { HakError, InputError } from "../common/errors.js";
import { hostsWithRole, parseInventory, type Inventory } from "../common/inventory.js";
import { hostPlan } from "../plan/plan.js";
import { relocatePlan } from "../plan/relocate.js";
import type { HostPlan } from "../plan/schema.js";

/**
 * The load-balancer lab: the HA rows of the load balancers, for real, on
 * their own. Two load-balancer hosts run the plan's haproxy.cfg and
 * keepalived.conf (VRRP between them with the plan's authentication, the API
 * virtual IP real on whichever is master); three control-plane hosts run
 * STAND-IN apiservers (src/ha/standin-apiserver.ts: TLS, /readyz, /version),
 * which are not apiservers — the real ones come with the local cluster.
 *
 * Each host is a network namespace `hakha-<host>` with its inventory address
 * on eth0, a veth `hakhav<n>` to the bridge `hakha0` (10.241.0.1/24, no
 * uplink, no default route); the client runs in the root namespace and
 * reaches the VIP over the bridge. A load balancer also gets a PID and mount
 * namespace of its own (a private /proc and /run), as a real host has: the
 * plan's track script looks for a haproxy process in /proc, and on a shared
 * PID namespace it would see the other load balancer's. Paths of the plan are
 * moved under a temp root with relocatePlan, as docs/plan.md says consumers do.
 *
 * Everything is I/O on `ip`, `nsenter`, `unshare`, `openssl`; root only.
 */

export const LAB_PREFIX = "hakha";
export const LAB_BRIDGE = "hakha0";
/** The lab's /24 unless HAK_HA_SUBNET names another (the cluster's is 10.240.0.0/24). */
export const LAB_SUBNET = "10.241.0.0/24";

/** "10.241.0" from HAK_HA_SUBNET (a /24 such as 10.242.0.0/24) or the default; a bad value is an input error naming the variable. */
export function labSubnetBase(env: NodeJS.ProcessEnv = process.env): string {
  // An empty variable counts as unset.
  const v = env.HAK_HA_SUBNET || LAB_SUBNET;
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.0\/24$/.exec(v);
  if (!m || m.slice(1).some((o) => Number(o) > 255))
    throw new InputError(`not a /24 such as 10.241.0.0/24: ${JSON.stringify(v)}`, { where: "HAK_HA_SUBNET" });
  return `${m[1]}.${m[2]}.${m[3]}`;
}
const NS = (host: string) => `${LAB_PREFIX}-${host}`;
const NS_PATH = (host: string) => `/run/netns/${NS(host)}`;

/** The lab's inventory on 10.241.0.0/24 (not the cluster's 10.240.0.0/24). etcd1 is there because an inventory needs one; the lab does not run it. */
export function labInventory(base = labSubnetBase()): Inventory {
  return parseInventory(
    {
      name: "halab",
      hostDomain: "halab.local",
      apiVip: `${base}.10`,
      serviceCidr: "10.33.0.0/24",
      podCidr: "10.201.0.0/16",
      vault: { addresses: [`https://${base}.5:8200`] },
      hosts: [
        { name: "etcd1", role: "etcd", address: `${base}.11` },
        { name: "controlplane1", role: "controlplane", address: `${base}.21` },
        { name: "controlplane2", role: "controlplane", address: `${base}.22` },
        { name: "controlplane3", role: "controlplane", address: `${base}.23` },
        { name: "loadbalancer1", role: "loadbalancer", address: `${base}.41` },
        { name: "loadbalancer2", role: "loadbalancer", address: `${base}.42` },
      ],
    },
    "the HA lab inventory",
  );
}

interface RunResult {
  code: number;
  out: string;
  err: string;
}

function run(cmd: string, args: string[], opts: { allowFail?: boolean } = {}): RunResult {
  const r = spawnSync(cmd, args, { encoding: "utf8", timeout: 30_000 });
  const res = { code: r.status ?? -1, out: r.stdout ?? "", err: (r.stderr ?? "") + (r.error ? String(r.error) : "") };
  if (res.code !== 0 && !opts.allowFail) throw new HakError(`${cmd} ${args.join(" ")} failed: ${res.err.trim() || `exit ${res.code}`}`);
  return res;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Names of the lab's network namespaces that exist now. */
function labNamespaces(): string[] {
  return run("ip", ["netns", "list"], { allowFail: true })
    .out.split("\n")
    .map((l) => l.split(" ")[0] ?? "")
    .filter((n) => n.startsWith(`${LAB_PREFIX}-`));
}

/** What a lab left behind: namespaces, links, processes, temp roots (empty after a clean stop). */
export function labLeftovers(): string[] {
  const out: string[] = [];
  for (const ns of labNamespaces()) {
    out.push(`netns ${ns}`);
    for (const pid of run("ip", ["netns", "pids", ns], { allowFail: true }).out.split("\n").filter(Boolean)) out.push(`process ${pid} in ${ns}`);
  }
  for (const l of run("ip", ["-o", "link", "show"], { allowFail: true }).out.split("\n")) {
    const m = /^\d+: ([^:@]+)/.exec(l);
    if (m && (m[1] === LAB_BRIDGE || /^hakhav\d+$/.test(m[1]!))) out.push(`link ${m[1]}`);
  }
  for (const d of readdirSync(tmpdir())) if (d.startsWith(`${LAB_PREFIX}-`)) out.push(`dir ${join(tmpdir(), d)}`);
  return out;
}

/**
 * Removes whatever an earlier lab left (a run that was killed): every process
 * in a hakha-* namespace (only the lab creates them), the namespaces, the
 * bridge and veths, the temp roots.
 */
export function sweepLab(): void {
  for (const ns of labNamespaces()) {
    for (const pid of run("ip", ["netns", "pids", ns], { allowFail: true }).out.split("\n").filter(Boolean)) {
      try {
        process.kill(Number(pid), "SIGKILL");
      } catch {
        /* gone */
      }
    }
    run("ip", ["netns", "del", ns], { allowFail: true });
  }
  for (const l of run("ip", ["-o", "link", "show"], { allowFail: true }).out.split("\n")) {
    const m = /^\d+: ([^:@]+)/.exec(l);
    if (m && (m[1] === LAB_BRIDGE || /^hakhav\d+$/.test(m[1]!))) run("ip", ["link", "del", m[1]!], { allowFail: true });
  }
  for (const d of readdirSync(tmpdir())) if (d.startsWith(`${LAB_PREFIX}-`)) rmSync(join(tmpdir(), d), { recursive: true, force: true });
}

/** The PID namespace of a process (its inode link), or undefined when it is gone. */
function pidNs(pid: number | string): string | undefined {
  try {
    return readlinkSync(`/proc/${pid}/ns/pid`);
  } catch {
    return undefined;
  }
}

function comm(pid: string): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/comm`, "utf8").trim();
  } catch {
    return undefined;
  }
}

function children(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").split(" ").filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

const STANDIN = (() => {
  const here = fileURLToPath(import.meta.url);
  const ts = here.endsWith(".ts");
  return { file: join(dirname(here), `standin-apiserver.${ts ? "ts" : "js"}`), node: ts ? ["--import", "tsx"] : [] };
})();

/**
 * PID 1 of a load balancer's PID namespace: reaps every orphan, as systemd
 * does on a host. A non-reaping init (sleep) leaves a SIGKILLed haproxy
 * worker as a zombie whose /proc/<pid>/comm still says haproxy, and the
 * track script would keep finding it.
 */
const REAPER = "while (1) { sleep 1 if wait() == -1 }";

export interface LabHost {
  name: string;
  role: "loadbalancer" | "controlplane";
  address: string;
  index: number;
}

export class LbLab {
  readonly inv: Inventory;
  readonly root: string;
  readonly hosts: LabHost[];
  readonly vip: string;
  readonly port: number;
  /** The stand-ins' certificate: the client's CA (self-signed, SANs: the VIP and every backend). */
  readonly caPem: string;
  readonly plans = new Map<string, HostPlan>();
  private readonly procs = new Map<string, ChildProcess>();
  /** Host PID of each load balancer's PID-namespace init. */
  private readonly inits = new Map<string, { proc: ChildProcess; pid: number; ns: string }>();
  private readonly keyFile: string;
  private readonly certFile: string;
  readonly authFile: string;

  private constructor(private readonly base: string) {
    sweepLab();
    this.inv = labInventory(base);
    this.root = mkdtempSync(join(tmpdir(), `${LAB_PREFIX}-`));
    // keepalived drops to the script user for the track script: it must traverse to it.
    chmodSync(this.root, 0o755);
    this.vip = this.inv.apiVip;
    this.port = this.inv.apiPort;
    const lbs = hostsWithRole(this.inv, "loadbalancer");
    const cps = hostsWithRole(this.inv, "controlplane");
    this.hosts = [...lbs, ...cps].map((h, i) => ({ name: h.name, role: h.role as LabHost["role"], address: h.address, index: i + 1 }));
    mkdirSync(join(this.root, "logs"), { recursive: true });
    mkdirSync(join(this.root, "pki"), { recursive: true, mode: 0o700 });
    mkdirSync(join(this.root, "secrets"), { recursive: true, mode: 0o700 });
    this.certFile = join(this.root, "pki", "standin.crt");
    this.keyFile = join(this.root, "pki", "standin.key");
    const sans = [this.vip, ...cps.map((h) => h.address)].map((a) => `IP:${a}`).join(",");
    run("openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1", "-subj", "/CN=hak-ha-lab stand-in apiserver", "-addext", `subjectAltName=${sans}`, "-keyout", this.keyFile, "-out", this.certFile]);
    this.caPem = readFileSync(this.certFile, "utf8");
    // VRRP PASS authentication (at most 8 characters), outside the plan as the plan wants it.
    this.authFile = join(this.root, "secrets", "vrrp-auth.conf");
    const pass = randomBytes(6).toString("base64url").slice(0, 8);
    writeFileSync(this.authFile, `authentication {\n  auth_type PASS\n  auth_pass ${pass}\n}\n`, { mode: 0o600 });
  }

  static create(): LbLab {
    if (process.getuid?.() !== 0) throw new HakError("the load-balancer lab needs root (network namespaces)", { fix: "run it as root (CI and the dev machine do)" });
    for (const p of ["/usr/sbin/haproxy", "/usr/sbin/keepalived"])
      if (!existsSync(p)) throw new HakError(`${p} not found`, { fix: "run `bash scripts/setup.sh` (it installs haproxy and keepalived)" });
    // Another bridge on the same /24 (someone else's test: the cluster's e2e
    // test also takes 10.241.0.0/24) would take our traffic. A subnet chosen
    // with HAK_HA_SUBNET is refused when in use, naming the interface; the
    // default moves on to the first free of 10.242-10.249.0.0/24.
    const addrs = run("ip", ["-o", "-4", "addr", "show"], { allowFail: true }).out.split("\n");
    const user = (s: string) => addrs.find((l) => l.includes(` inet ${s}.`) && !/^\d+: hakha0\s/.test(l));
    let base = labSubnetBase();
    const clash = user(base);
    if (clash && process.env.HAK_HA_SUBNET)
      throw new HakError(`${base}.0/24 is already in use on this machine: ${clash.split(/\s+/).slice(1, 4).join(" ")}`, {
        where: "HAK_HA_SUBNET",
        fix: "set HAK_HA_SUBNET to a free /24 (e.g. 10.242.0.0/24)",
      });
    if (clash) {
      const free = [2, 3, 4, 5, 6, 7, 8, 9].map((n) => `10.24${n}.0`).find((b) => !user(b));
      if (!free) throw new HakError(`${base}.0/24 and 10.242-10.249.0.0/24 are all in use on this machine`, { where: "HAK_HA_SUBNET", fix: "set HAK_HA_SUBNET to a free /24" });
      base = free;
    }
    const lab = new LbLab(base);
    try {
      lab.network();
      for (const h of lab.hosts.filter((x) => x.role === "loadbalancer")) lab.writePlan(h);
    } catch (err) {
      lab.stop();
      throw err;
    }
    return lab;
  }

  host(name: string): LabHost {
    const h = this.hosts.find((x) => x.name === name);
    if (!h) throw new HakError(`no lab host ${name}`);
    return h;
  }

  get loadBalancers(): LabHost[] {
    return this.hosts.filter((h) => h.role === "loadbalancer");
  }

  get backends(): LabHost[] {
    return this.hosts.filter((h) => h.role === "controlplane");
  }

  private network(): void {
    run("ip", ["link", "add", LAB_BRIDGE, "type", "bridge"]);
    run("ip", ["addr", "add", `${this.base}.1/24`, "dev", LAB_BRIDGE]);
    run("ip", ["link", "set", LAB_BRIDGE, "up"]);
    for (const h of this.hosts) {
      const ns = NS(h.name);
      run("ip", ["netns", "add", ns]);
      run("ip", ["link", "add", `hakhav${h.index}`, "type", "veth", "peer", "name", "eth0", "netns", ns]);
      run("ip", ["link", "set", `hakhav${h.index}`, "master", LAB_BRIDGE, "up"]);
      run("ip", ["-n", ns, "addr", "add", `${h.address}/24`, "dev", "eth0"]);
      run("ip", ["-n", ns, "link", "set", "eth0", "up"]);
      run("ip", ["-n", ns, "link", "set", "lo", "up"]);
    }
  }

  /** The host's plan under <root>/hosts/<name>, its files and folders written, its sysctls set in its namespace. */
  private writePlan(h: LabHost): void {
    const plan = relocatePlan(hostPlan(this.inv, h.name, { loadbalancer: { authFile: this.authFile } }), join(this.root, "hosts", h.name));
    this.plans.set(h.name, plan);
    for (const d of plan.directories) mkdirSync(d.path, { recursive: true, mode: Number.parseInt(d.mode, 8) });
    for (const f of plan.files) {
      mkdirSync(dirname(f.path), { recursive: true, mode: 0o755 });
      writeFileSync(f.path, f.content, { mode: Number.parseInt(f.mode, 8) });
      chmodSync(f.path, Number.parseInt(f.mode, 8));
    }
    for (const [k, v] of Object.entries(plan.sysctl)) run("ip", ["netns", "exec", NS(h.name), "sysctl", "-q", "-w", `${k}=${v}`]);
  }

  private log(name: string): number {
    return openSync(join(this.root, "logs", `${name}.log`), "a");
  }

  private spawnLogged(key: string, argv: string[]): ChildProcess {
    const fd = this.log(key.replace("/", "-"));
    const p = spawn(argv[0]!, argv.slice(1), { stdio: ["ignore", fd, fd], detached: false });
    closeSync(fd);
    p.on("error", () => undefined);
    this.procs.set(key, p);
    return p;
  }

  /** The load balancer's own PID and mount namespace (a private /proc and /run), held by a reaping init. */
  private async lbInit(host: string): Promise<{ pid: number; ns: string }> {
    const have = this.inits.get(host);
    if (have && pidNs(have.pid) === have.ns) return have;
    const fd = this.log(`${host}-init`);
    const proc = spawn("nsenter", [`--net=${NS_PATH(host)}`, "--", "unshare", "--pid", "--fork", "--mount-proc", "--kill-child", "--", "sh", "-c", `mount -t tmpfs -o mode=0755 tmpfs /run && exec perl -e ${JSON.stringify(REAPER)}`], { stdio: ["ignore", fd, fd] });
    closeSync(fd);
    proc.on("error", () => undefined);
    for (let i = 0; i < 100; i++) {
      const pid = proc.pid !== undefined ? children(proc.pid)[0] : undefined;
      if (pid !== undefined && comm(String(pid)) === "perl") {
        const ns = pidNs(pid);
        if (ns && ns !== pidNs("self")) {
          const init = { proc, pid, ns };
          this.inits.set(host, init);
          return init;
        }
      }
      await sleep(20);
    }
    proc.kill("SIGKILL");
    throw new HakError(`the PID namespace of ${host} did not start`, { where: join(this.root, "logs", `${host}-init.log`) });
  }

  /** Starts one of the plan's services (haproxy, keepalived) of a load balancer, as the plan's command line says. */
  async startService(host: string, service: "haproxy" | "keepalived"): Promise<void> {
    const plan = this.plans.get(host);
    const svc = plan?.services.find((s) => s.name === service);
    if (!svc) throw new HakError(`${host} has no service ${service} in its plan`);
    const init = await this.lbInit(host);
    this.spawnLogged(`${host}/${service}`, ["nsenter", "-t", String(init.pid), "--net", "--pid", "--mount", "--", `/usr/sbin/${svc.program}`, ...svc.args]);
  }

  /** PIDs (root namespace numbers) of the processes named `program` on a load balancer. */
  processes(host: string, program: string): number[] {
    const init = this.inits.get(host);
    if (!init) return [];
    return readdirSync("/proc")
      .filter((d) => /^\d+$/.test(d) && pidNs(d) === init.ns && comm(d) === program)
      .map(Number);
  }

  /** SIGKILL every process of a service on a load balancer (haproxy's master and workers; keepalived and its VRRP child). */
  killService(host: string, program: "haproxy" | "keepalived"): number {
    const pids = this.processes(host, program);
    for (const pid of pids) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        /* gone */
      }
    }
    return pids.length;
  }

  /** Sends the plan's reload signal to a service's main process (keepalived: SIGHUP rereads its config and includes). */
  reloadService(host: string, service: "haproxy" | "keepalived"): void {
    const svc = this.plans.get(host)?.services.find((s) => s.name === service);
    const nsenter = this.procs.get(`${host}/${service}`)?.pid;
    const main = nsenter !== undefined ? children(nsenter)[0] : undefined;
    if (!svc || svc.reload.kind !== "signal" || main === undefined) throw new HakError(`cannot reload ${service} on ${host}`);
    process.kill(main, svc.reload.signal as NodeJS.Signals);
  }

  setLink(host: string, up: boolean): void {
    run("ip", ["-n", NS(host), "link", "set", "eth0", up ? "up" : "down"]);
  }

  /**
   * Which load balancers hold the VIP on eth0 now, with the link up (a host
   * whose link is down holds nothing anyone can reach); two at once is a
   * split brain.
   */
  vipHolders(): string[] {
    return this.loadBalancers.filter((h) => this.holds(run("ip", ["-n", NS(h.name), "-o", "addr", "show", "dev", "eth0", "up"], { allowFail: true }).out)).map((h) => h.name);
  }

  /** The same without blocking the event loop (the client's 100 ms ticks run meanwhile). */
  async vipHoldersAsync(): Promise<string[]> {
    const outs = await Promise.all(
      this.loadBalancers.map(
        (h) => new Promise<string>((resolve) => execFile("ip", ["-n", NS(h.name), "-o", "addr", "show", "dev", "eth0", "up"], { timeout: 10_000 }, (_e, out) => resolve(String(out ?? "")))),
      ),
    );
    return this.loadBalancers.filter((_h, i) => this.holds(outs[i]!)).map((h) => h.name);
  }

  private holds(ipAddrOut: string): boolean {
    return ipAddrOut.includes(` ${this.vip}/`);
  }

  async startBackend(host: string): Promise<void> {
    const h = this.host(host);
    const p = this.spawnLogged(`${host}/standin-apiserver`, ["nsenter", `--net=${NS_PATH(host)}`, "--", process.execPath, ...STANDIN.node, STANDIN.file, host, h.address, String(this.port), this.certFile, this.keyFile]);
    for (let i = 0; i < 200; i++) {
      if (p.exitCode !== null) throw new HakError(`the stand-in apiserver on ${host} exited ${p.exitCode}`, { where: join(this.root, "logs", `${host}-standin-apiserver.log`) });
      if (await tcpOpen(h.address, this.port)) return;
      await sleep(50);
    }
    throw new HakError(`the stand-in apiserver on ${host} did not listen`, { where: join(this.root, "logs", `${host}-standin-apiserver.log`) });
  }

  killBackend(host: string): void {
    const p = this.procs.get(`${host}/standin-apiserver`);
    if (p?.pid !== undefined && p.exitCode === null) p.kill("SIGKILL");
  }

  /** Backends, then haproxy and keepalived on every load balancer (the plan's `after` order). */
  async startAll(): Promise<void> {
    for (const b of this.backends) await this.startBackend(b.name);
    for (const lb of this.loadBalancers) {
      await this.startService(lb.name, "haproxy");
      await this.startService(lb.name, "keepalived");
    }
  }

  /** Waits until exactly `host` holds the VIP; false after `timeoutMs`. */
  async waitVip(host: string, timeoutMs: number): Promise<boolean> {
    const end = Date.now() + timeoutMs;
    while (Date.now() < end) {
      const h = this.vipHolders();
      if (h.length === 1 && h[0] === host) return true;
      await sleep(100);
    }
    return false;
  }

  logTail(name: string, lines = 30): string {
    try {
      return readFileSync(join(this.root, "logs", `${name}.log`), "utf8").split("\n").slice(-lines).join("\n");
    } catch {
      return "";
    }
  }

  /** Kills everything the lab started (by PID), removes its namespaces, bridge, veths and temp root. */
  stop(): void {
    for (const init of this.inits.values()) {
      try {
        process.kill(init.pid, "SIGKILL");
      } catch {
        /* gone */
      }
      init.proc.kill("SIGKILL");
    }
    for (const p of this.procs.values()) if (p.exitCode === null) p.kill("SIGKILL");
    sweepLab();
  }
}

function tcpOpen(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host, port, timeout: 500 });
    const done = (ok: boolean) => {
      s.destroy();
      resolve(ok);
    };
    s.once("connect", () => done(true));
    s.once("error", () => done(false));
    s.once("timeout", () => done(false));
  });
}

/** "HAProxy version 2.6.12-..." (the first line of haproxy -v). */
export function haproxyVersion(): string {
  return run("/usr/sbin/haproxy", ["-v"], { allowFail: true }).out.split("\n")[0]?.replace(/ - https?:\S+/, "").trim() ?? "haproxy";
}

export function keepalivedVersion(): string {
  const r = run("/usr/sbin/keepalived", ["--version"], { allowFail: true });
  return (r.out + r.err).split("\n")[0]?.trim() ?? "keepalived";
}
