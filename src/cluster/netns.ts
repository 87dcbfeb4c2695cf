import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { HakError } from "../common/errors.js";

/**
 * One machine standing for many hosts. Each host gets:
 * - a network namespace with its inventory address on eth0, a veth to a
 *   bridge in the root namespace (no uplink, no default route), and the
 *   plan's static routes (other nodes' pod subnets);
 * - a mount namespace of its own (pinned in a file), where sysfs shows its
 *   own interfaces and the few paths programs hard-code (/var/log/containers,
 *   /run/containerd, /var/lib/cni) are bind-mounted from the host's folder,
 *   so mounts of its pods never show in the root namespace and go away with it;
 * - a cgroup subtree /hak-<ns>-<host> in every cgroup v1 hierarchy: its
 *   kubelet's cgroupRoot, and where its supervisor (and so every process of
 *   the host, containerd shims included) lives, so stop can find them all.
 * Everything here is I/O on `ip`, `nsenter`, `unshare`, `mount`.
 */

export interface NetSpec {
  /** Short prefix of every name we create ("hak"): bridge <p>br0, netns <p>-<host>, veths <p><n>. */
  prefix: string;
  /** The bridge's own address with prefix length, e.g. 10.240.0.1/24. */
  bridgeCidr: string;
}

export interface HostNet {
  name: string;
  address: string;
  prefixLength: number;
  /** Index used in the root-side veth name (short: names are at most 15 characters). */
  index: number;
  routes: { to: string; via: string }[];
}

function run(cmd: string, args: string[], opts: { allowFail?: boolean; input?: string } = {}): { code: number; out: string; err: string } {
  const r = spawnSync(cmd, args, { encoding: "utf8", input: opts.input, timeout: 30_000 });
  const res = { code: r.status ?? -1, out: r.stdout ?? "", err: (r.stderr ?? "") + (r.error ? String(r.error) : "") };
  if (res.code !== 0 && !opts.allowFail) throw new HakError(`${cmd} ${args.join(" ")} failed: ${res.err.trim() || `exit ${res.code}`}`);
  return res;
}

export const bridgeName = (s: NetSpec) => `${s.prefix}br0`;
export const netnsName = (s: NetSpec, host: string) => `${s.prefix}-${host}`;
export const netnsPath = (s: NetSpec, host: string) => `/run/netns/${netnsName(s, host)}`;
export const vethName = (s: NetSpec, h: HostNet) => `${s.prefix}v${h.index}`;
export const cgroupName = (s: NetSpec, host: string) => `${s.prefix}-${host}`;

function linkExists(name: string, ns?: string): boolean {
  return run("ip", [...(ns ? ["-n", ns] : []), "link", "show", name], { allowFail: true }).code === 0;
}

export function ensureBridge(s: NetSpec): void {
  const br = bridgeName(s);
  if (!linkExists(br)) run("ip", ["link", "add", br, "type", "bridge"]);
  const addrs = run("ip", ["-o", "addr", "show", "dev", br]).out;
  if (!addrs.includes(` ${s.bridgeCidr} `)) run("ip", ["addr", "add", s.bridgeCidr, "dev", br]);
  run("ip", ["link", "set", br, "up"]);
}

export function ensureHostNet(s: NetSpec, h: HostNet): void {
  const ns = netnsName(s, h.name);
  if (!existsSync(netnsPath(s, h.name))) run("ip", ["netns", "add", ns]);
  const v = vethName(s, h);
  if (!linkExists("eth0", ns)) {
    if (linkExists(v)) run("ip", ["link", "del", v]);
    run("ip", ["link", "add", v, "type", "veth", "peer", "name", "eth0", "netns", ns]);
  }
  run("ip", ["link", "set", v, "master", bridgeName(s), "up"]);
  const cidr = `${h.address}/${h.prefixLength}`;
  const addrs = run("ip", ["-n", ns, "-o", "addr", "show", "dev", "eth0"]).out;
  if (!addrs.includes(` ${cidr} `)) run("ip", ["-n", ns, "addr", "add", cidr, "dev", "eth0"]);
  run("ip", ["-n", ns, "link", "set", "eth0", "up"]);
  run("ip", ["-n", ns, "link", "set", "lo", "up"]);
  for (const r of h.routes) run("ip", ["-n", ns, "route", "replace", r.to, "via", r.via, "dev", "eth0"]);
  // A host forwards for its pods (the CNI bridge) like any Kubernetes node.
  run("ip", ["netns", "exec", ns, "sysctl", "-q", "-w", "net.ipv4.ip_forward=1"]);
}

/** v1 hierarchies (cpu, memory, …, and the named systemd one) mounted under /sys/fs/cgroup. */
export function cgroupHierarchies(): string[] {
  return readdirSync("/sys/fs/cgroup").filter((d) => d !== "unified" && existsSync(join("/sys/fs/cgroup", d, "cgroup.procs")) && !statSync(join("/sys/fs/cgroup", d)).isSymbolicLink());
}

/** /sys/fs/cgroup/<h>/<name>[/sub] in every hierarchy; cpuset children get their parent's cpus and mems. */
export function ensureCgroup(path: string): void {
  for (const h of cgroupHierarchies()) {
    let cur = join("/sys/fs/cgroup", h);
    for (const part of path.split("/").filter(Boolean)) {
      const parent = cur;
      cur = join(cur, part);
      if (!existsSync(cur)) mkdirSync(cur);
      if (h === "cpuset") {
        for (const f of ["cpuset.cpus", "cpuset.mems"]) {
          if (readFileSync(join(cur, f), "utf8").trim() === "") writeFileSync(join(cur, f), readFileSync(join(parent, f), "utf8"));
        }
      }
    }
  }
}

/** Every pid in the subtree of every hierarchy. */
export function cgroupPids(name: string): number[] {
  const pids = new Set<number>();
  const walk = (dir: string) => {
    if (!existsSync(dir)) return;
    try {
      for (const l of readFileSync(join(dir, "cgroup.procs"), "utf8").split("\n")) if (l.trim()) pids.add(Number(l));
      for (const e of readdirSync(dir, { withFileTypes: true })) if (e.isDirectory()) walk(join(dir, e.name));
    } catch {
      /* removed meanwhile */
    }
  };
  for (const h of cgroupHierarchies()) walk(join("/sys/fs/cgroup", h, name));
  return [...pids];
}

/** SIGKILL to every process in the subtree, again and again until none is left (or `tries` rounds `everyMs` apart); true when empty. */
export async function killCgroup(name: string, tries: number, everyMs: number): Promise<boolean> {
  for (let k = 0; k < tries; k++) {
    const pids = cgroupPids(name);
    if (pids.length === 0) return true;
    for (const pid of pids) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        /* gone */
      }
    }
    await new Promise((r) => setTimeout(r, everyMs));
  }
  return cgroupPids(name).length === 0;
}

/** Removes the subtree bottom-up in every hierarchy; false if something is still in it. */
export function removeCgroup(name: string): boolean {
  let ok = true;
  const rm = (dir: string) => {
    if (!existsSync(dir)) return;
    for (const e of readdirSync(dir, { withFileTypes: true })) if (e.isDirectory()) rm(join(dir, e.name));
    try {
      rmdirSync(dir);
    } catch {
      ok = false;
    }
  };
  for (const h of cgroupHierarchies()) rm(join("/sys/fs/cgroup", h, name));
  return ok;
}

export function mountPinDir(stateDir: string): string {
  return join(stateDir, "ns");
}
export function mountPin(stateDir: string, host: string): string {
  return join(mountPinDir(stateDir), `${host}.mnt`);
}

function isMountPoint(path: string): boolean {
  return run("mountpoint", ["-q", path], { allowFail: true }).code === 0;
}

/**
 * The host's mount namespace, pinned in a file. Made once: later runs find
 * the pin and reuse it. `binds` maps a hard-coded path to the host's folder
 * (or, with `file`, a file that exists on both sides, e.g. /etc/hosts).
 */
export function ensureMountNs(s: NetSpec, stateDir: string, host: string, binds: { target: string; source: string; file?: true }[]): string {
  const dir = mountPinDir(stateDir);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  // A pin needs a private parent mount.
  if (!isMountPoint(dir)) {
    run("mount", ["--bind", dir, dir]);
    run("mount", ["--make-private", dir]);
  }
  const pin = mountPin(stateDir, host);
  if (isMountPoint(pin)) return pin;
  writeFileSync(pin, "");
  run("unshare", [`--mount=${pin}`, "--propagation", "private", "true"]);
  // Inside: sysfs of the host's own network namespace (CNI and kubelet read
  // /sys/class/net), the cgroup mounts put back on it, then the binds.
  const tmp = join(dir, `.cg-${host}`);
  const lines = [
    "set -e",
    `mkdir -p '${tmp}'`,
    `mount --rbind /sys/fs/cgroup '${tmp}'`,
    "umount -l /sys",
    "mount -t sysfs sysfs /sys",
    `mount --rbind '${tmp}' /sys/fs/cgroup`,
    `umount -l '${tmp}'`,
    `rmdir '${tmp}'`,
    ...binds.flatMap((b) => [...(b.file ? [] : [`mkdir -p '${b.source}' '${b.target}'`]), `mount --bind '${b.source}' '${b.target}'`]),
  ];
  run("nsenter", [`--net=${netnsPath(s, host)}`, `--mount=${pin}`, "sh", "-c", lines.join("\n")]);
  return pin;
}

export function utsPin(stateDir: string, host: string): string {
  return join(mountPinDir(stateDir), `${host}.uts`);
}

/**
 * The host's UTS namespace, pinned beside its mount namespace, with the
 * host's name as hostname: what its processes call themselves (the
 * controller manager's and scheduler's leader-election identity is
 * `<hostname>_<uuid>`, as on a real host). Made once, reused.
 */
export function ensureUtsNs(stateDir: string, host: string): string {
  const pin = utsPin(stateDir, host);
  if (isMountPoint(pin)) return pin;
  writeFileSync(pin, "");
  run("unshare", [`--uts=${pin}`, "hostname", host]);
  return pin;
}

/** argv that runs `argv` inside the host's namespaces, after moving itself into the host's cgroup. */
export function inHostArgv(s: NetSpec, stateDir: string, host: string, cgroupPath: string, argv: string[]): string[] {
  const join_ = cgroupHierarchies()
    .map((h) => `echo $$ > '/sys/fs/cgroup/${h}/${cgroupPath}/cgroup.procs'`)
    .join("; ");
  const uts = existsSync(utsPin(stateDir, host)) ? ` --uts=${utsPin(stateDir, host)}` : "";
  return ["sh", "-c", `${join_}; exec nsenter --net=${netnsPath(s, host)} --mount=${mountPin(stateDir, host)}${uts} -- "$@"`, "hak-host", ...argv];
}

/** Unpins the host's mount and UTS namespaces. */
export function removeMountNs(stateDir: string, host: string): void {
  for (const pin of [mountPin(stateDir, host), utsPin(stateDir, host)]) {
    if (isMountPoint(pin)) run("umount", [pin], { allowFail: true });
    if (existsSync(pin)) {
      try {
        rmdirSync(pin);
      } catch {
        run("rm", ["-f", pin], { allowFail: true });
      }
    }
  }
}

export function removeHostNet(s: NetSpec, h: { name: string; index: number }): void {
  if (existsSync(netnsPath(s, h.name))) run("ip", ["netns", "del", netnsName(s, h.name)], { allowFail: true });
  const v = `${s.prefix}v${h.index}`;
  if (linkExists(v)) run("ip", ["link", "del", v], { allowFail: true });
}

export function removeBridge(s: NetSpec, stateDir: string): void {
  if (linkExists(bridgeName(s))) run("ip", ["link", "del", bridgeName(s)], { allowFail: true });
  const dir = mountPinDir(stateDir);
  if (existsSync(dir) && isMountPoint(dir)) run("umount", [dir], { allowFail: true });
}

/** Runs a command in the host's network namespace only (e.g. `ip`, `iptables`, `ctr`). */
export function inNetns(s: NetSpec, host: string, argv: string[], opts: { allowFail?: boolean } = {}): { code: number; out: string; err: string } {
  return run("nsenter", [`--net=${netnsPath(s, host)}`, "--", ...argv], opts);
}

/** What we left: netns names, links and mounts with our prefix (for stop's verdict and tests). */
export function leftovers(s: NetSpec, stateDir: string): string[] {
  const out: string[] = [];
  const netns = run("ip", ["netns", "list"], { allowFail: true }).out;
  for (const l of netns.split("\n")) if (l.startsWith(`${s.prefix}-`)) out.push(`netns ${l.split(" ")[0]}`);
  const links = run("ip", ["-o", "link", "show"], { allowFail: true }).out;
  for (const l of links.split("\n")) {
    const m = /^\d+: ([^:@]+)/.exec(l);
    if (m && (m[1] === bridgeName(s) || new RegExp(`^${s.prefix}v\\d+$`).test(m[1]!))) out.push(`link ${m[1]}`);
  }
  const mounts = readFileSync("/proc/self/mountinfo", "utf8");
  for (const l of mounts.split("\n")) {
    const target = l.split(" ")[4];
    if (target && target.startsWith(stateDir)) out.push(`mount ${target}`);
  }
  for (const h of cgroupHierarchies()) {
    for (const d of readdirSync(join("/sys/fs/cgroup", h))) if (d.startsWith(`${s.prefix}-`)) out.push(`cgroup ${h}/${d}`);
  }
  return out;
}

/** The plan's sysctls inside the host's network namespace; returns those the kernel does not namespace (left alone). */
export function applySysctls(s: NetSpec, host: string, sysctl: Record<string, string | number>): string[] {
  const bad: string[] = [];
  for (const [k, v] of Object.entries(sysctl)) {
    const r = inNetns(s, host, ["sysctl", "-q", "-w", `${k}=${v}`], { allowFail: true });
    if (r.code !== 0) bad.push(k);
  }
  return bad;
}
