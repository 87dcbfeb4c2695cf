import { spawn } from "node:child_process";
import { closeSync, openSync, readFileSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import { z } from "zod";
import { writeFileAtomic } from "../common/fsutil.js";

/**
 * The demo's background processes, recorded by pid in one file so a second
 * run reuses them and `stop` ends exactly these and nothing else.
 */

const procSchema = z.object({
  name: z.string(),
  kind: z.enum(["bao", "serve", "agent", "etcd", "host"]),
  pid: z.number().int().positive(),
  /** argv[0..1] as started, to tell our process from an unrelated one that got the pid later. */
  argv: z.array(z.string()),
  log: z.string(),
  started: z.string(),
});
export type DemoProc = z.infer<typeof procSchema>;

export function readProcs(file: string): DemoProc[] {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch {
    return [];
  }
  const parsed = z.array(procSchema).safeParse(JSON.parse(text));
  return parsed.success ? parsed.data : [];
}

export function writeProcs(file: string, procs: DemoProc[]): void {
  writeFileAtomic(file, `${JSON.stringify(procs, null, 2)}\n`, { mode: 0o644 });
}

/** Alive and still the program we started (its command line begins the same way). */
export function isOurs(p: Pick<DemoProc, "pid" | "argv">): boolean {
  try {
    process.kill(p.pid, 0);
  } catch {
    return false;
  }
  try {
    const cmdline = readFileSync(`/proc/${p.pid}/cmdline`, "utf8").split("\0");
    // A zombie has an empty command line: not running.
    if (cmdline.length === 0 || cmdline[0] === "") return false;
    return p.argv.every((a, i) => cmdline[i] === a);
  } catch {
    return false;
  }
}

export interface SpawnSpec {
  name: string;
  kind: DemoProc["kind"];
  command: string;
  args: string[];
  cwd: string;
  env: NodeJS.ProcessEnv;
  log: string;
}

/** Starts a process that outlives the demo command: own session, output appended to its log. */
export function spawnDetached(spec: SpawnSpec): DemoProc {
  const out = openSync(spec.log, "a", 0o600);
  try {
    const child = spawn(spec.command, spec.args, { cwd: spec.cwd, env: spec.env, detached: true, stdio: ["ignore", out, out] });
    if (child.pid === undefined) throw new Error(`could not start ${spec.command}`);
    child.unref();
    return { name: spec.name, kind: spec.kind, pid: child.pid, argv: [spec.command, ...spec.args].slice(0, 2), log: spec.log, started: new Date().toISOString() };
  } finally {
    closeSync(out);
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // State field after the ")": Z = zombie, already dead (its parent has not reaped it).
    return !/\) Z /.test(stat);
  } catch {
    return false;
  }
}

/** SIGTERM, then SIGKILL after graceMs; resolves when the process is gone. */
export async function stopProc(p: DemoProc, graceMs = 10_000): Promise<"stopped" | "killed" | "not running"> {
  if (!isOurs(p)) return "not running";
  try {
    process.kill(p.pid, "SIGTERM");
  } catch {
    return "not running";
  }
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline) {
    if (!alive(p.pid)) return "stopped";
    await sleep(100);
  }
  try {
    process.kill(p.pid, "SIGKILL");
  } catch {
    /* gone meanwhile */
  }
  while (alive(p.pid)) await sleep(50);
  return "killed";
}

export function pidAlive(pid: number): boolean {
  return alive(pid);
}
