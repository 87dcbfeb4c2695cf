import { execFile, spawn } from "node:child_process";
import { existsSync, readFileSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { rotateAudit } from "../../src/common/localbao.js";
import { PROJECT_ROOT } from "../../src/common/paths.js";
import { Agent } from "../../src/agent/agent.js";
import { signProfile } from "../../src/pki/issue.js";
import { certOutput, hostConfig, loopbackInventory, memoryLogger, startLab, type Lab } from "./fixture.js";

/**
 * OpenBao's file audit log: how many bytes a sign request and an agent's
 * renewal add (printed, for docs/audit-log.md), and rotation by rename +
 * SIGHUP (the file device reopens its file_path), with no line lost.
 */

const run = promisify(execFile);
const inv = loopbackInventory("aud", "127.0.38", { leafTtl: "1h" });
let lab: Lab;
const stateDir = () => join(lab.dir, "bao");
const log = () => join(stateDir(), "audit.log");
const size = (f: string) => (existsSync(f) ? statSync(f).size : 0);
const lines = (f: string) => readFileSync(f, "utf8").split("\n").filter(Boolean).length;

beforeAll(async () => {
  lab = await startLab(inv);
}, 90_000);
afterAll(async () => lab?.cleanup());

describe("the audit log", () => {
  it("measures bytes per sign request and per agent renewal", async () => {
    const n = 20;
    const a = size(log());
    for (let i = 0; i < n; i++) await signProfile(lab.root, inv, { profile: "etcd-server", host: "etcd1" });
    const perSign = (size(log()) - a) / n;

    const dir = join(lab.dir, "etcd2");
    const cfg = await hostConfig(lab, "etcd2", dir, [certOutput(inv, "etcd2", "etcd-server", join(dir, "pki")), certOutput(inv, "etcd2", "etcd-peer", join(dir, "pki"))], { secretId: true });
    expect(await new Agent(cfg, { log: memoryLogger().log }).once()).toBe(true);
    // A renewal pass of a restarted agent: cert-auth login and three signatures (its clock past the renewal point).
    const b = size(log());
    const agent = new Agent(cfg, { log: memoryLogger().log, now: () => Date.now() + 47 * 60_000 });
    expect((await agent.once()) && true).toBe(true);
    const perPass = size(log()) - b;
    console.log(`audit log: ${Math.round(perSign)} bytes per sign request (root token, ${n} requests); ${perPass} bytes per agent renewal of 3 certificates (login + 3 signs)`);
    expect(perSign).toBeGreaterThan(500);
    expect(perPass).toBeGreaterThan(3 * 500);
  });

  it("rotates: rename, SIGHUP, the server writes a new file; nothing lands in the old one afterwards", async () => {
    const before = lines(log());
    expect(rotateAudit(stateDir(), { maxBytes: size(log()) + 1 })).toBe(false); // below the size limit: untouched
    expect(rotateAudit(stateDir(), { keep: 3 })).toBe(true);
    expect(existsSync(`${log()}.1`)).toBe(true);
    await sleep(300); // the reopen happens in the server's signal handler
    const rotated = lines(`${log()}.1`);
    expect(rotated).toBeGreaterThanOrEqual(before);
    await signProfile(lab.root, inv, { profile: "etcd-server", host: "etcd1" });
    expect(lines(log())).toBeGreaterThanOrEqual(2); // request and response of the signature
    expect(lines(`${log()}.1`)).toBe(rotated);
    expect(statSync(log()).mode & 0o777).toBe(0o600);
    // Shifted on the next rotation, and at most `keep` old files stay.
    for (let i = 0; i < 4; i++) {
      await signProfile(lab.root, inv, { profile: "etcd-server", host: "etcd1" });
      expect(rotateAudit(stateDir(), { keep: 3 })).toBe(true);
      await sleep(200);
    }
    expect([1, 2, 3].every((i) => existsSync(`${log()}.${i}`))).toBe(true);
    expect(existsSync(`${log()}.4`)).toBe(false);
  });

  it("`hak-pki local-server rotate-audit --every` (the demo's rotator) rotates past --max-size and stops on SIGTERM", async () => {
    rmSync(`${log()}.1`, { force: true });
    const bin = join(PROJECT_ROOT, "bin", "hak-pki.js");
    expect((await run(process.execPath, [bin, "local-server", "rotate-audit", "--state-dir", stateDir(), "--max-size", "1G"])).stdout).toContain("not rotated");
    await expect(run(process.execPath, [bin, "local-server", "rotate-audit", "--state-dir", stateDir(), "--max-size", "lots"])).rejects.toMatchObject({ code: 2 });
    const child = spawn(process.execPath, [bin, "local-server", "rotate-audit", "--state-dir", stateDir(), "--max-size", "1k", "--every", "1s"], { stdio: "ignore" });
    await signProfile(lab.root, inv, { profile: "etcd-server", host: "etcd1" }); // > 1 KiB of audit lines
    const deadline = Date.now() + 10_000;
    while (!existsSync(`${log()}.1`) && Date.now() < deadline) await sleep(200);
    expect(existsSync(`${log()}.1`)).toBe(true);
    child.kill("SIGTERM");
    expect(await new Promise((done) => child.once("exit", (code) => done(code)))).toBe(0);
  });
});
