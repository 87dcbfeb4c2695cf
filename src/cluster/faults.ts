import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { HakError } from "../common/errors.js";
import type { Inventory } from "../common/inventory.js";
import { readProcs, writeProcs } from "../demo/procs.js";
import { clusterPaths, spawnSupervisor } from "./cluster.js";
import * as ns from "./netns.js";
import { control } from "./supervisor.js";
import type { UnitStatus } from "./units.js";

/**
 * Failures of the local cluster's hosts, for the HA rows: kill a unit, a
 * whole host (its supervisor and every process in its cgroup, its cable
 * pulled), bring it back, partition it. Works on any local cluster given its
 * state folder, prefix and inventory, whoever brought it up.
 */

export interface ClusterRef {
  projectRoot: string;
  stateRoot: string;
  prefix: string;
  inventory: Inventory;
}

function host(ref: ClusterRef, name: string): { spec: ns.NetSpec; index: number } {
  const i = ref.inventory.hosts.findIndex((h) => h.name === name);
  if (i < 0) throw new HakError(`no host ${name} in the inventory`);
  const h = ref.inventory.hosts[i]!;
  return { spec: { prefix: ref.prefix, bridgeCidr: "" }, index: Number(h.address.split(".")[3]) || i };
}

const socketOf = (ref: ClusterRef, name: string) => join(clusterPaths(ref.stateRoot).runDir, `${name}.sock`);

/** A unit's status as its host's supervisor reports it; undefined when the supervisor does not answer. */
export async function unitStatus(ref: ClusterRef, hostName: string, unit: string): Promise<UnitStatus | undefined> {
  try {
    const a = await control(socketOf(ref, hostName), { op: "status" }, 5000);
    return a.ok ? a.status?.units.find((u) => u.name === unit) : undefined;
  } catch {
    return undefined;
  }
}

/** SIGKILLs a unit's main process (its supervisor restarts it, as systemd's Restart= would); returns the pid killed. */
export async function killUnit(ref: ClusterRef, hostName: string, unit: string): Promise<number> {
  const s = await unitStatus(ref, hostName, unit);
  if (!s?.pid) throw new HakError(`${hostName}'s ${unit} is not running (${s?.state ?? "no supervisor"})`);
  process.kill(s.pid, "SIGKILL");
  return s.pid;
}

function ip(args: string[]): void {
  const r = spawnSync("ip", args, { encoding: "utf8", timeout: 30_000 });
  if (r.status !== 0) throw new HakError(`ip ${args.join(" ")} failed: ${(r.stderr ?? "").trim()}`);
}

/** The host's cable: its veth on the bridge side down or up (the host's eth0 keeps its address and routes, as a NIC whose link is lost). */
export function setCable(ref: ClusterRef, hostName: string, up: boolean): void {
  const h = host(ref, hostName);
  ip(["link", "set", `${ref.prefix}v${h.index}`, up ? "up" : "down"]);
}

/**
 * The host dies: cable pulled, then SIGKILL to its supervisor and to every
 * process in its cgroup (units, containerd shims, pods), until none is left.
 */
export async function killHost(ref: ClusterRef, hostName: string): Promise<void> {
  setCable(ref, hostName, false);
  const cg = ns.cgroupName(host(ref, hostName).spec, hostName);
  if (await ns.killCgroup(cg, 100, 100)) return;
  throw new HakError(`processes of ${hostName} are still alive after SIGKILL: ${ns.cgroupPids(cg).join(", ")}`);
}

/** The host boots again: cable in, its supervisor started (which starts its units in plan order), recorded for `stop`. */
export function startHost(ref: ClusterRef, hostName: string): void {
  setCable(ref, hostName, true);
  const p = clusterPaths(ref.stateRoot);
  const proc = spawnSupervisor(ref, hostName);
  const procs = readProcs(p.procsFile).filter((x) => x.name !== proc.name);
  writeProcs(p.procsFile, [...procs, proc]);
}

/**
 * A network partition of the host: every packet in and out of its eth0
 * dropped by iptables in its namespace (loopback keeps working, so the host's
 * own processes still talk to each other), or the rules removed again.
 */
export function partition(ref: ClusterRef, hostName: string, on: boolean): void {
  const spec = host(ref, hostName).spec;
  for (const [chain, dir] of [
    ["INPUT", "-i"],
    ["OUTPUT", "-o"],
    ["FORWARD", "-i"],
  ] as const) {
    const rule = [chain, dir, "eth0", "-m", "comment", "--comment", "hak-ha-partition", "-j", "DROP"];
    if (on) ns.inNetns(spec, hostName, ["iptables", "-w", "-I", ...rule]);
    else while (ns.inNetns(spec, hostName, ["iptables", "-w", "-D", ...rule], { allowFail: true }).code === 0);
  }
}
