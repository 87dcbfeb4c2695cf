import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { actionArgv, actionKey, runAction } from "../../src/agent/actions.js";

/** Actions run as real child processes: argv, the debounce key, timeouts, failures as results. */

const dir = mkdtempSync(join(tmpdir(), "hak-actions-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("actions", () => {
  it.each([
    [{ type: "reload-or-restart" as const, unit: "etcd.service", timeout: 30 }, ["systemctl", "reload-or-restart", "etcd.service"]],
    [{ type: "restart" as const, unit: "kubelet.service", timeout: 30 }, ["systemctl", "restart", "kubelet.service"]],
    [{ type: "signal" as const, unit: "kube-apiserver.service", signal: "SIGHUP", timeout: 30 }, ["systemctl", "kill", "-s", "SIGHUP", "kube-apiserver.service"]],
    [{ type: "command" as const, argv: ["/bin/true", "x y"], timeout: 30 }, ["/bin/true", "x y"]],
  ])("%o runs %o", (a, argv) => {
    expect(actionArgv(a)).toEqual(argv);
  });

  it("the same action with another timeout is the same action (debounced once)", () => {
    expect(actionKey({ type: "restart", unit: "u", timeout: 1 })).toBe(actionKey({ type: "restart", unit: "u", timeout: 9 }));
    expect(actionKey({ type: "restart", unit: "u", timeout: 1 })).not.toBe(actionKey({ type: "reload-or-restart", unit: "u", timeout: 1 }));
  });

  it("a command that hangs is killed at its timeout; a missing program is a result, not a throw", async () => {
    const t0 = Date.now();
    const hung = await runAction({ type: "command", argv: ["sleep", "30"], timeout: 1 });
    expect(hung).toMatchObject({ ok: false, timedOut: true });
    expect(Date.now() - t0).toBeLessThan(10_000);
    expect(await runAction({ type: "command", argv: ["/nonexistent/hak-reload"], timeout: 5 })).toMatchObject({ ok: false, error: expect.stringMatching(/ENOENT/) });
    expect(await runAction({ type: "command", argv: ["sh", "-c", "echo oops >&2; exit 3"], timeout: 5 })).toMatchObject({ ok: false, code: 3, stderr: "oops" });
  });

  it("systemctl actions call systemctl from PATH with the unit (a stand-in systemctl: no systemd runs here)", async () => {
    const bin = join(dir, "bin");
    const log = join(dir, "systemctl.log");
    mkdirSync(bin, { recursive: true });
    writeFileSync(join(bin, "systemctl"), `#!/bin/sh\necho "$@" >> ${log}\n[ "$1" != restart ]\n`);
    chmodSync(join(bin, "systemctl"), 0o755);
    const path = process.env.PATH;
    process.env.PATH = `${bin}:${path}`;
    try {
      expect((await runAction({ type: "reload-or-restart", unit: "kube-apiserver.service", timeout: 5 })).ok).toBe(true);
      expect((await runAction({ type: "signal", unit: "etcd.service", signal: "SIGHUP", timeout: 5 })).ok).toBe(true);
      expect(await runAction({ type: "restart", unit: "kubelet.service", timeout: 5 })).toMatchObject({ ok: false, code: 1 });
    } finally {
      process.env.PATH = path;
    }
    expect(readFileSync(log, "utf8")).toBe("reload-or-restart kube-apiserver.service\nkill -s SIGHUP etcd.service\nrestart kubelet.service\n");
  });
});
