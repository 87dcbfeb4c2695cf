import { spawn, type ChildProcess } from "node:child_process";
import { closeSync, existsSync, openSync, readFileSync, rmSync } from "node:fs";
import { createServer, connect, type Server } from "node:net";
import { request as httpsRequest } from "node:https";
import { request as httpRequest } from "node:http";
import { setTimeout as sleep } from "node:timers/promises";
import { writeFileAtomic } from "../common/fsutil.js";
import { unitFileSchema, type ControlAnswer, type ControlRequest, type HostStatus, type Readiness, type Unit, type UnitFile, type UnitStatus } from "./units.js";

/**
 * The local cluster's stand-in for systemd, one per host, running inside
 * the host's network and mount namespaces (so every unit it starts is in
 * them too). It starts the host's units in plan order (a unit waits for the
 * readiness of those it comes after), restarts a unit that exits (1s,
 * doubling to 10s), and takes `systemctl`-like requests on a unix socket
 * (systemctl.ts), which is how the host's hak-agent reloads services after a
 * renewal. It counts every restart by cause, for the rotation report.
 */

interface Running {
  unit: Unit;
  status: UnitStatus;
  child?: ChildProcess;
  /** Set while we stop it on purpose: its exit is not a crash. */
  stopping?: Promise<void>;
  backoffMs: number;
  ready: boolean;
  /** The pending restart after a crash; cleared when something else starts the unit first. */
  timer?: NodeJS.Timeout;
  /** Stops and starts of this unit, one at a time (two restart requests never make two processes). */
  queue: Promise<void>;
}

export class Supervisor {
  private readonly units = new Map<string, Running>();
  private server?: Server;
  private shuttingDown = false;
  private statusTimer?: NodeJS.Timeout;

  constructor(private spec: UnitFile, private readonly specFile: string) {}

  async start(): Promise<void> {
    rmSync(this.spec.socket, { force: true });
    this.server = createServer((sock) => {
      let buf = "";
      sock.on("data", (d) => {
        buf += d.toString();
        const nl = buf.indexOf("\n");
        if (nl < 0) return;
        const line = buf.slice(0, nl);
        buf = "";
        void this.handle(line).then((a) => sock.end(`${JSON.stringify(a)}\n`));
      });
      sock.on("error", () => {});
    });
    await new Promise<void>((res, rej) => {
      this.server!.once("error", rej);
      this.server!.listen(this.spec.socket, () => res());
    });
    this.statusTimer = setInterval(() => this.writeStatus(), 2000);
    this.apply(this.spec);
  }

  private apply(spec: UnitFile): void {
    this.spec = spec;
    const wanted = new Set(spec.units.map((u) => u.name));
    for (const [name, r] of this.units) {
      if (!wanted.has(name)) {
        void this.stopUnit(r).then(() => this.units.delete(name));
      }
    }
    for (const u of spec.units) {
      const prev = this.units.get(u.name);
      if (prev && JSON.stringify(prev.unit) === JSON.stringify(u)) continue;
      if (prev) {
        prev.unit = u;
        void this.restart(prev, "changed");
        continue;
      }
      const r: Running = { unit: u, status: { name: u.name, state: "waiting", restarts: { requested: 0, crashed: 0, changed: 0 }, signals: 0 }, backoffMs: 1000, ready: false, queue: Promise.resolve() };
      this.units.set(u.name, r);
      void this.launchWhenDepsReady(r);
    }
  }

  private async launchWhenDepsReady(r: Running): Promise<void> {
    for (;;) {
      if (this.shuttingDown) return;
      const deps = r.unit.after.map((n) => this.units.get(n)).filter((x): x is Running => x !== undefined);
      if (deps.every((d) => d.ready)) break;
      await sleep(300);
    }
    this.launch(r);
  }

  private launch(r: Running): void {
    if (this.shuttingDown) return;
    if (r.timer) clearTimeout(r.timer);
    r.timer = undefined;
    // Never a second process of one unit.
    if (r.child && r.child.exitCode === null && r.child.signalCode === null) return;
    const u = r.unit;
    const out = openSync(u.log, "a", 0o600);
    let child: ChildProcess;
    try {
      child = spawn(u.argv[0]!, u.argv.slice(1), { cwd: u.cwd, env: u.env, stdio: ["ignore", out, out] });
    } finally {
      closeSync(out);
    }
    r.child = child;
    r.ready = false;
    r.status.pid = child.pid;
    r.status.state = "starting";
    r.status.startedAt = new Date().toISOString();
    child.on("error", () => {});
    child.on("exit", (code, signal) => {
      r.status.lastExit = { code, signal, at: new Date().toISOString() };
      // Replaced meanwhile: the exit of an old process says nothing about the unit.
      if (r.child !== child) return;
      r.status.pid = undefined;
      r.child = undefined;
      r.ready = false;
      if (r.stopping || this.shuttingDown) {
        r.status.state = "stopped";
        return;
      }
      r.status.state = "backoff";
      r.status.restarts.crashed++;
      const wait = r.backoffMs;
      r.backoffMs = Math.min(r.backoffMs * 2, 10_000);
      r.timer = setTimeout(() => this.launch(r), wait);
      r.timer.unref();
    });
    void this.watchReady(r, child);
  }

  private async watchReady(r: Running, child: ChildProcess): Promise<void> {
    const started = Date.now();
    while (r.child === child && !this.shuttingDown) {
      if (!r.unit.readiness || (await probe(r.unit.readiness))) {
        r.ready = true;
        r.status.state = "ready";
        // A unit that stayed up a while gets its quick restarts back.
        setTimeout(() => {
          if (r.child === child) r.backoffMs = 1000;
        }, 30_000).unref();
        return;
      }
      await sleep(Date.now() - started < 10_000 ? 250 : 1000);
    }
  }

  private async stopUnit(r: Running, graceMs = 15_000): Promise<void> {
    const child = r.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const done = new Promise<void>((res) => child.once("exit", () => res()));
    r.stopping = done;
    child.kill("SIGTERM");
    const t = setTimeout(() => child.kill("SIGKILL"), graceMs);
    await done;
    clearTimeout(t);
    r.stopping = undefined;
  }

  private restart(r: Running, cause: "requested" | "changed"): Promise<void> {
    const next = r.queue.then(async () => {
      if (r.timer) clearTimeout(r.timer);
      r.timer = undefined;
      await this.stopUnit(r);
      r.backoffMs = 1000;
      this.launch(r);
      // Counted once the new process runs, so a status that shows the count shows the new pid too.
      r.status.restarts[cause]++;
    });
    r.queue = next.catch(() => {});
    return next;
  }

  private async handle(line: string): Promise<ControlAnswer> {
    let req: ControlRequest;
    try {
      req = JSON.parse(line) as ControlRequest;
    } catch {
      return { ok: false, error: "not JSON" };
    }
    const unitOf = (name: string) => this.units.get(name.replace(/\.service$/, ""));
    switch (req.op) {
      case "status":
        return { ok: true, status: this.status() };
      case "restart":
      case "reload-or-restart": {
        const r = unitOf(req.unit);
        if (!r) return { ok: false, error: `Unit ${req.unit} not found.` };
        if (req.op === "reload-or-restart" && r.unit.reload.kind === "signal" && r.child) {
          r.child.kill(r.unit.reload.signal as NodeJS.Signals);
          r.status.signals++;
          return { ok: true };
        }
        await this.restart(r, "requested");
        return { ok: true };
      }
      case "signal": {
        const r = unitOf(req.unit);
        if (!r) return { ok: false, error: `Unit ${req.unit} not found.` };
        if (r.child) {
          r.child.kill(req.signal as NodeJS.Signals);
          r.status.signals++;
        }
        return { ok: true };
      }
      case "reload-units": {
        try {
          this.apply(unitFileSchema.parse(JSON.parse(readFileSync(this.specFile, "utf8"))));
          return { ok: true };
        } catch (err) {
          return { ok: false, error: (err as Error).message };
        }
      }
      case "shutdown":
        setImmediate(() => void this.shutdown());
        return { ok: true };
    }
  }

  status(): HostStatus {
    return { host: this.spec.host, pid: process.pid, at: new Date().toISOString(), units: [...this.units.values()].map((r) => ({ ...r.status })) };
  }

  private writeStatus(): void {
    try {
      writeFileAtomic(this.spec.statusFile, `${JSON.stringify(this.status(), null, 2)}\n`, { mode: 0o644 });
    } catch {
      /* the folder went away: stop is under way */
    }
  }

  /** Stops units in reverse start order, then exits. */
  async shutdown(): Promise<void> {
    if (this.shuttingDown) return;
    this.shuttingDown = true;
    if (this.statusTimer) clearInterval(this.statusTimer);
    const order = [...this.units.values()].reverse();
    for (const r of order) if (r.timer) clearTimeout(r.timer);
    for (const r of order) await this.stopUnit(r);
    this.writeStatus();
    this.server?.close();
    rmSync(this.spec.socket, { force: true });
  }
}

/** Whether the unit answers as its readiness says; any error is "not yet". */
export async function probe(r: Readiness): Promise<boolean> {
  try {
    switch (r.kind) {
      case "files":
        return r.paths.every((f) => existsSync(f));
      case "unix":
        return existsSync(r.path) && (await connects({ path: r.path }));
      case "tcp":
        return await connects({ host: r.host, port: r.port });
      case "http":
      case "https":
        return await new Promise<boolean>((res) => {
          const u = new URL(r.url);
          const opts =
            r.kind === "https"
              ? {
                  ca: r.caFile ? readFileSync(r.caFile) : undefined,
                  cert: r.certFile ? readFileSync(r.certFile) : undefined,
                  key: r.keyFile ? readFileSync(r.keyFile) : undefined,
                  rejectUnauthorized: !r.insecure,
                }
              : {};
          const req = (r.kind === "https" ? httpsRequest : httpRequest)(u, { method: "GET", timeout: 2000, ...opts }, (resp) => {
            resp.resume();
            res((resp.statusCode ?? 500) < 400);
          });
          req.on("error", () => res(false));
          req.on("timeout", () => {
            req.destroy();
            res(false);
          });
          req.end();
        });
    }
  } catch {
    return false;
  }
}

function connects(target: { path: string } | { host: string; port: number }): Promise<boolean> {
  return new Promise((res) => {
    const s = connect(target as never);
    const t = setTimeout(() => {
      s.destroy();
      res(false);
    }, 2000);
    s.on("connect", () => {
      clearTimeout(t);
      s.end();
      res(true);
    });
    s.on("error", () => {
      clearTimeout(t);
      res(false);
    });
  });
}

/** One request to a host's supervisor. */
export function control(socket: string, req: ControlRequest, timeoutMs = 30_000): Promise<ControlAnswer> {
  return new Promise((res, rej) => {
    const s = connect({ path: socket });
    let buf = "";
    const t = setTimeout(() => {
      s.destroy();
      rej(new Error(`no answer from ${socket} in ${timeoutMs / 1000}s`));
    }, timeoutMs);
    s.on("connect", () => s.write(`${JSON.stringify(req)}\n`));
    s.on("data", (d) => (buf += d.toString()));
    s.on("end", () => {
      clearTimeout(t);
      try {
        res(JSON.parse(buf) as ControlAnswer);
      } catch {
        rej(new Error(`bad answer from ${socket}: ${buf.slice(0, 200)}`));
      }
    });
    s.on("error", (e) => {
      clearTimeout(t);
      rej(e);
    });
  });
}

/** Entry: `node dist/cluster/supervisor-main.js UNITS.json`. */
export async function supervisorMain(specFile: string): Promise<void> {
  const spec = unitFileSchema.parse(JSON.parse(readFileSync(specFile, "utf8")));
  const sup = new Supervisor(spec, specFile);
  await sup.start();
  const bye = () => void sup.shutdown().then(() => process.exit(0));
  process.on("SIGTERM", bye);
  process.on("SIGINT", bye);
}
