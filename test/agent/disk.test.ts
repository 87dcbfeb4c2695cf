import { execFile } from "node:child_process";
import { closeSync, mkdirSync, openSync, readFileSync, rmSync, writeSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { certFacts } from "../../src/common/x509.js";
import { pkiRoleName } from "../../src/common/names.js";
import type { VaultRequestEvent } from "../../src/common/vault.js";
import { Agent } from "../../src/agent/agent.js";
import type { AgentConfig, CertificateOutput } from "../../src/agent/config.js";
import { readCertOnDisk } from "../../src/agent/outputs.js";
import { certLife } from "../../src/common/lifetime.js";
import { vaultOperation } from "../../src/agent/metrics.js";
import { certOutput, hostConfig, loopbackInventory, memoryLogger, startLab, type Lab } from "./fixture.js";

/**
 * A full or read-only file system under an output, on a real tmpfs
 * (`mount -t tmpfs -o size=256k`, `mount -o remount,ro`), against a real
 * OpenBao: no signature is asked while the write cannot succeed (counted by
 * the client's request hook and in OpenBao's own audit log), and the output
 * is renewed with exactly one signature once the space or the write access
 * is back. A certificate signed just before the disk filled is written later,
 * without a second signature.
 */

const run = promisify(execFile);
/** The per-host role etcd1's etcd-server certificate is signed at. */
const ROLE = pkiRoleName("etcd-server", "etcd1");
const inv = loopbackInventory("dsk", "127.0.37", { leafTtl: "1h" });
let lab: Lab;
let cfg: AgentConfig;
let mnt: string;
const certFile = () => join(mnt, "etcd-server.crt");
const serial = () => certFacts(readFileSync(certFile(), "utf8")).serial;

/** Sign requests for etcd-server in OpenBao's audit log (responses, so each request counts once). */
function auditSigns(): number {
  const text = readFileSync(join(lab.dir, "bao", "audit.log"), "utf8");
  return text
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l) as { type: string; request?: { path?: string } })
    .filter((e) => e.type === "response" && /\/sign\//.test(e.request?.path ?? "") && (e.request?.path ?? "").endsWith(`/${ROLE}`)).length;
}

function fill(dir: string): string {
  const file = join(dir, "filler");
  const fd = openSync(file, "w");
  const chunk = Buffer.alloc(4096, 1);
  try {
    for (;;) writeSync(fd, chunk);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOSPC") throw err;
  } finally {
    closeSync(fd);
  }
  return file;
}

beforeAll(async () => {
  lab = await startLab(inv);
  mnt = join(lab.dir, "etcd1", "pki");
  mkdirSync(mnt, { recursive: true });
  await run("mount", ["-t", "tmpfs", "-o", "size=256k,mode=0755", "tmpfs", mnt]);
  cfg = await hostConfig(lab, "etcd1", join(lab.dir, "etcd1"), [certOutput(inv, "etcd1", "etcd-server", mnt)], { secretId: true });
  expect(await new Agent(cfg, { log: memoryLogger().log }).once()).toBe(true);
}, 90_000);

afterAll(async () => {
  await run("umount", ["-l", mnt]).catch(() => undefined);
  await lab?.cleanup();
});

/** An agent whose clock is past the renewal point, counting its sign requests; `passes` runs it with the clock moving on. */
function dueAgent(onSign?: (ev: VaultRequestEvent) => void) {
  // Past every jittered renewal point (2/3 ± 0.1 of the life, measured from when the agent obtained it), before the late point.
  const disk = readCertOnDisk(cfg.outputs[1] as CertificateOutput);
  const start = certLife(disk.facts!.notBefore, disk.facts!.notAfter, { obtainedAt: disk.obtainedAt }).signedAt.getTime();
  let offset = start + 0.79 * (disk.facts!.notAfter.getTime() - start) - Date.now();
  const signs: VaultRequestEvent[] = [];
  const mem = memoryLogger();
  const agent = new Agent(cfg, {
    log: mem.log,
    now: () => Date.now() + offset,
    onVaultRequest: (ev) => {
      // The identity (on another disk) may renew too; only this output's signatures count.
      if (vaultOperation(ev.path) !== "sign" || !ev.path.endsWith(`/${ROLE}`)) return;
      signs.push(ev);
      onSign?.(ev);
    },
  });
  /** Passes with the clock moving on; the outputs of the tmpfs written (the identity elsewhere may renew too). */
  const passes = async (n: number) => {
    const changed: string[] = [];
    for (let i = 0; i < n; i++) {
      changed.push(...(await agent.pass()).filter((o) => o === "etcd-server"));
      offset += 6_000; // past backoffMax (5 s) and the probe interval
    }
    return changed;
  };
  return { agent, signs, passes, mem };
}

describe("a full or read-only disk", () => {
  // Each test starts from a certificate obtained now, in real time (the agents below run their clocks ahead).
  beforeEach(async () => {
    for (const f of [".hak-etcd-server", "etcd-server.crt", "etcd-server.key", "etcd-server-ca.crt"]) rmSync(join(mnt, f), { recursive: true, force: true });
    const a = new Agent(cfg, { log: memoryLogger().log });
    expect(await a.once()).toBe(true);
  });

  it("disk full: no signature while the write cannot succeed; one, and the renewal, once space is back", async () => {
    const before = serial();
    const auditBefore = auditSigns();
    const filler = fill(mnt);
    const { agent, signs, passes } = dueAgent();
    try {
      expect(await passes(8)).toEqual([]);
      const st = agent.status().find((s) => s.name === "etcd-server")!;
      expect(st.lastError).toMatch(/ENOSPC/);
      expect(st.lastError).toMatch(/\.hak-etcd-server|pki/);
      expect(signs).toHaveLength(0);
      expect(auditSigns()).toBe(auditBefore);
      expect(serial()).toBe(before);
      rmSync(filler);
      expect(await passes(2)).toEqual(["etcd-server"]);
      expect(signs).toHaveLength(1);
      expect(auditSigns()).toBe(auditBefore + 1);
      expect(serial()).not.toBe(before);
      console.log(`disk full: 8 attempts, ${signs.length - 1} signatures while full; 1 after space returned (audit log: ${auditSigns() - auditBefore})`);
    } finally {
      rmSync(filler, { force: true });
      await agent.session.close();
    }
  });

  it("read-only remount: no signature until it is writable again", async () => {
    const before = serial();
    const auditBefore = auditSigns();
    await run("mount", ["-o", "remount,ro", mnt]);
    const { agent, signs, passes } = dueAgent();
    try {
      expect(await passes(6)).toEqual([]);
      expect(agent.status().find((s) => s.name === "etcd-server")!.lastError).toMatch(/EROFS.*\n.*read-only|EROFS/);
      expect(signs).toHaveLength(0);
      expect(auditSigns()).toBe(auditBefore);
      await run("mount", ["-o", "remount,rw", mnt]);
      expect(await passes(2)).toEqual(["etcd-server"]);
      expect(signs).toHaveLength(1);
      expect(auditSigns()).toBe(auditBefore + 1);
      expect(serial()).not.toBe(before);
    } finally {
      await run("mount", ["-o", "remount,rw", mnt]).catch(() => undefined);
      await agent.session.close();
    }
  });

  it("space gone between the check and the write: the signed certificate is kept and written later, not signed again", async () => {
    const before = serial();
    let filler: string | undefined;
    // The disk fills the moment Vault's signature arrives, after the write check passed.
    const { agent, signs, passes, mem } = dueAgent((ev) => {
      if (ev.ok && !filler) filler = fill(mnt);
    });
    try {
      expect(await passes(5)).toEqual([]);
      expect(signs).toHaveLength(1);
      const held = agent.status().find((s) => s.name === "etcd-server")!.unwrittenSerial;
      expect(held).toBeDefined();
      expect(await agent.metrics.registry.getSingleMetricAsString("hak_agent_certificate_unwritten")).toMatch(/output="etcd-server"} 1/);
      expect(serial()).toBe(before);
      rmSync(filler!);
      expect(await passes(2)).toEqual(["etcd-server"]);
      expect(signs).toHaveLength(1);
      expect(serial()).toBe(held);
      expect(mem.lines().some((l) => l.msg === "writing the certificate signed earlier instead of asking for another")).toBe(true);
      expect(await agent.metrics.registry.getSingleMetricAsString("hak_agent_certificate_unwritten")).toMatch(/output="etcd-server"} 0/);
    } finally {
      if (filler) rmSync(filler, { force: true });
      await agent.session.close();
      await sleep(10);
    }
  });
});
