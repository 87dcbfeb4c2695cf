import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PROJECT_ROOT } from "../../src/common/paths.js";
import { control } from "../../src/cluster/supervisor.js";
import { parseSystemctl } from "../../src/cluster/systemctl.js";
import type { HostStatus, UnitFile } from "../../src/cluster/units.js";
import { answerAddresses, peerOf, tokenKubeconfig } from "../../src/deploy/kube-check.js";

/**
 * The local cluster's systemd stand-in, as a real process with real
 * children (sh loops): plan order with readiness, restart of a unit that
 * dies, the agent's `systemctl` calls through the stand-in script, a changed
 * unit list, shutdown in reverse order.
 */

const dir = mkdtempSync(join(tmpdir(), "hak-sup-"));
const socket = join(dir, "s.sock");
const specFile = join(dir, "units.json");
const marker = join(dir, "ready-a");

function spec(bExtra = ""): UnitFile {
  const env = { PATH: process.env.PATH ?? "/usr/bin:/bin" };
  return {
    host: "h1",
    socket,
    statusFile: join(dir, "status.json"),
    units: [
      { name: "a", argv: ["sh", "-c", `sleep 0.5; touch ${marker}; trap 'echo got-hup >> ${dir}/a.signals' HUP; while :; do sleep 0.1; done`], env, cwd: dir, log: join(dir, "a.log"), after: [], readiness: { kind: "files", paths: [marker] }, reload: { kind: "signal", signal: "SIGHUP" } },
      { name: "b", argv: ["sh", "-c", `echo started${bExtra} >> ${dir}/b.starts; exec sleep 1000`], env, cwd: dir, log: join(dir, "b.log"), after: ["a"], reload: { kind: "restart" } },
    ],
  };
}

async function status(): Promise<HostStatus> {
  const a = await control(socket, { op: "status" });
  if (!a.ok || !a.status) throw new Error(a.ok ? "no status" : a.error);
  return a.status;
}

async function until<T>(what: string, f: () => Promise<T | undefined>, ms = 20_000): Promise<T> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    const v = await f().catch(() => undefined);
    if (v !== undefined) return v;
    await sleep(100);
  }
  throw new Error(`timed out: ${what}`);
}

let sup: ReturnType<typeof spawn>;

describe("supervisor (the local cluster's systemd stand-in)", () => {
  beforeAll(async () => {
    const b = spawnSync("npm", ["run", "-s", "build"], { cwd: PROJECT_ROOT, encoding: "utf8" });
    expect(b.status, b.stderr).toBe(0);
    writeFileSync(specFile, JSON.stringify(spec()));
    sup = spawn(process.execPath, [join(PROJECT_ROOT, "dist", "cluster", "supervisor-main.js"), specFile], { stdio: "ignore" });
    await until("socket", async () => (existsSync(socket) ? true : undefined));
  }, 120_000);

  afterAll(() => {
    sup.kill("SIGKILL");
    rmSync(dir, { recursive: true, force: true });
  });

  it("starts a unit only once the unit it comes after is ready", async () => {
    const s = await until("b running", async () => {
      const x = await status();
      return x.units.find((u) => u.name === "b")?.pid ? x : undefined;
    });
    expect(s.units.find((u) => u.name === "a")?.state).toBe("ready");
    // b started after a's readiness file existed.
    expect(existsSync(marker)).toBe(true);
    expect(readFileSync(join(dir, "b.starts"), "utf8").trim().split("\n")).toEqual(["started"]);
  });

  it("restarts a unit that dies, counting it as a crash", async () => {
    const before = (await status()).units.find((u) => u.name === "b")!;
    process.kill(before.pid!, "SIGKILL");
    const after = await until("b back", async () => {
      const u = (await status()).units.find((x) => x.name === "b")!;
      return u.pid && u.pid !== before.pid ? u : undefined;
    });
    expect(after.restarts.crashed).toBe(before.restarts.crashed + 1);
  });

  it("takes the agent's systemctl calls through the stand-in: restart, reload as the unit's signal, kill -s", async () => {
    const stand = join(PROJECT_ROOT, "dist", "cluster", "systemctl-main.js");
    const env = { ...process.env, HAK_SUPERVISOR_SOCKET: socket };
    const pidB = (await status()).units.find((u) => u.name === "b")!.pid;
    expect(spawnSync(process.execPath, [stand, "restart", "b.service"], { env }).status).toBe(0);
    const b = (await status()).units.find((u) => u.name === "b")!;
    expect(b.pid).not.toBe(pidB);
    expect(b.restarts.requested).toBe(1);
    const pidA = (await status()).units.find((u) => u.name === "a")!.pid;
    expect(spawnSync(process.execPath, [stand, "reload-or-restart", "a.service"], { env }).status).toBe(0);
    await until("a got SIGHUP", async () => (existsSync(join(dir, "a.signals")) ? true : undefined));
    const a = (await status()).units.find((u) => u.name === "a")!;
    expect(a.pid).toBe(pidA);
    expect(a.signals).toBe(1);
    const unknown = spawnSync(process.execPath, [stand, "restart", "nope.service"], { env, encoding: "utf8" });
    expect(unknown.status).toBe(1);
    expect(unknown.stderr).toContain("nope.service not found");
    const bad = spawnSync(process.execPath, [stand, "enable", "a.service"], { env, encoding: "utf8" });
    expect(bad.status).toBe(2);
  });

  it("restart requests at once, and one while the unit waits to be restarted after a crash, still leave one process", async () => {
    const b0 = (await status()).units.find((u) => u.name === "b")!;
    process.kill(b0.pid!, "SIGKILL");
    await until("b in backoff", async () => ((await status()).units.find((u) => u.name === "b")!.state === "backoff" ? true : undefined));
    await Promise.all([1, 2, 3].map(() => control(socket, { op: "restart", unit: "b.service" })));
    await sleep(3000); // past the crash's 2 s backoff: its timer must not start another one
    const kids = spawnSync("ps", ["--ppid", String(sup.pid), "-o", "args="], { encoding: "utf8" }).stdout.split("\n").filter((l) => l.trim() === "sleep 1000");
    expect(kids).toHaveLength(1);
    expect((await status()).units.find((u) => u.name === "b")!.state).not.toBe("backoff");
  });

  it("a changed unit list restarts only the changed unit", async () => {
    const before = await status();
    writeFileSync(specFile, JSON.stringify(spec(" v2")));
    expect((await control(socket, { op: "reload-units" })).ok).toBe(true);
    const b = await until("b changed", async () => {
      const u = (await status()).units.find((x) => x.name === "b")!;
      return u.restarts.changed === 1 && u.pid ? u : undefined;
    });
    expect(b.pid).not.toBe(before.units.find((u) => u.name === "b")!.pid);
    expect((await status()).units.find((u) => u.name === "a")!.pid).toBe(before.units.find((u) => u.name === "a")!.pid);
    // The new process writes its line once it runs: wait for it rather than race it.
    await until("b v2 started", async () => (readFileSync(join(dir, "b.starts"), "utf8").includes("started v2") ? true : undefined));
  });

  it("shutdown stops every unit and exits", async () => {
    const pids = (await status()).units.map((u) => u.pid!);
    await control(socket, { op: "shutdown" });
    await until("supervisor gone", async () => (sup.exitCode !== null ? true : undefined));
    for (const pid of pids) expect(() => process.kill(pid, 0)).toThrow();
  });
});

describe("pure parts of the cluster checks", () => {
  it("parses the systemctl forms the agent uses, and refuses the rest", () => {
    expect(parseSystemctl(["restart", "kubelet.service"])).toEqual({ op: "restart", unit: "kubelet.service" });
    expect(parseSystemctl(["kill", "-s", "HUP", "keepalived.service"])).toEqual({ op: "signal", unit: "keepalived.service", signal: "SIGHUP" });
    expect(parseSystemctl(["reload", "haproxy.service"])).toEqual({ op: "reload-or-restart", unit: "haproxy.service" });
    expect(typeof parseSystemctl(["start"])).toBe("string");
  });

  it("pairs each worker with another, and reads nslookup answers (not the server's address)", () => {
    expect(peerOf(["w1", "w2"], "w1")).toBe("w2");
    expect(peerOf(["w1", "w2"], "w2")).toBe("w1");
    expect(peerOf(["w1"], "w1")).toBe("w1");
    const out = "Server:\t\t10.240.0.31\nAddress:\t10.240.0.31:53\n\nName:\tx.ns.svc.cluster.local\nAddress: 10.32.0.57\n";
    expect(answerAddresses(out)).toEqual(["10.32.0.57"]);
    expect(answerAddresses("Server: 10.0.0.1\nAddress: 10.0.0.1:53\n** server can't find x: NXDOMAIN\n")).toEqual([]);
  });

  it("a token kubeconfig keeps the cluster and carries nothing but the token", () => {
    const base = "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: https://10.0.0.10:6443\n    certificate-authority-data: QUJD\nusers:\n- name: admin\n  user:\n    client-certificate-data: WFla\n    client-key-data: S0VZ\ncontexts:\n- name: ctx\n  context: {cluster: c, user: admin}\ncurrent-context: ctx\n";
    const out = tokenKubeconfig(base, "tok");
    expect(out).toContain("server: https://10.0.0.10:6443");
    expect(out).toContain("token: tok");
    expect(out).not.toContain("client-key-data");
  });
});
