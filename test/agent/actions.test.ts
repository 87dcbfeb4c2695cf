import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import type { IncomingMessage } from "node:http";
import { createServer } from "node:https";
import type { Duplex } from "node:stream";
import type { AddressInfo } from "node:net";
import type { TLSSocket } from "node:tls";
import { actionArgv, actionKey, runAction } from "../../src/agent/actions.js";
import { generateKeyPair, x509 } from "../../src/common/x509.js";

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

describe("http-get (the kubelet-connection kick)", () => {
  async function selfSigned(cn: string, ip?: string) {
    const kp = await generateKeyPair("ec");
    const c = await x509.X509CertificateGenerator.createSelfSigned({
      serialNumber: "0b",
      name: [{ CN: [cn] }],
      notBefore: new Date(Date.now() - 60_000),
      notAfter: new Date(Date.now() + 3600_000),
      keys: kp.keys,
      signingAlgorithm: kp.algorithm,
      extensions: ip ? [new x509.SubjectAlternativeNameExtension([{ type: "ip", value: ip }])] : [],
    });
    return { cert: `${c.toString("pem")}\n`, key: kp.privateKeyPem };
  }

  it("GETs on new connections with the client pair, every 20 ms for the burst; any HTTP status counts; a dead server is a failed result", async () => {
    const server = await selfSigned("server", "127.0.0.1");
    const client = await selfSigned("agent");
    const files = { certFile: join(dir, "c.crt"), keyFile: join(dir, "c.key"), caFile: join(dir, "s.crt") };
    writeFileSync(files.certFile, client.cert);
    writeFileSync(files.keyFile, client.key, { mode: 0o600 });
    writeFileSync(files.caFile, server.cert);
    const seen: string[] = [];
    const ports = new Set<number>();
    const srv = createServer({ cert: server.cert, key: server.key, requestCert: true, rejectUnauthorized: false }, (req, res) => {
      const peer = (req.socket as TLSSocket).getPeerCertificate();
      seen.push(String(peer.subject?.CN ?? "none"));
      ports.add(req.socket.remotePort ?? 0);
      res.writeHead(502).end("kubelet unreachable");
    });
    // Upgrade requests (what the plan sends) come here: answered like a kubelet that does not upgrade /healthz.
    const upgrades: string[] = [];
    srv.on("upgrade", (req: IncomingMessage, socket: Duplex) => {
      upgrades.push(`${req.headers.connection} ${req.headers.upgrade} ${String((req.socket as TLSSocket).getPeerCertificate().subject?.CN)}`);
      socket.end("HTTP/1.1 502 Bad Gateway\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
    });
    await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
    const port = (srv.address() as AddressInfo).port;
    try {
      const res = await runAction({ type: "http-get", url: `https://127.0.0.1:${port}/api/v1/nodes/x/proxy/healthz`, ...files, burst: 0.5, upgrade: false, timeout: 10 });
      expect(res).toMatchObject({ ok: true });
      expect(seen.length).toBeGreaterThanOrEqual(10);
      expect(new Set(seen)).toEqual(new Set(["agent"]));
      // A new connection each time: each meets the pair the server's transport has now.
      expect(ports.size).toBe(seen.length);
      const up = await runAction({ type: "http-get", url: `https://127.0.0.1:${port}/api/v1/nodes/x/proxy/healthz`, ...files, burst: 0, upgrade: true, timeout: 10 });
      expect(up).toMatchObject({ ok: true });
      expect(upgrades).toEqual(["Upgrade SPDY/3.1 agent"]);
    } finally {
      await new Promise((r) => srv.close(r));
    }
    const dead = await runAction({ type: "http-get", url: `https://127.0.0.1:${port}/`, ...files, burst: 0, upgrade: false, timeout: 5 });
    expect(dead).toMatchObject({ ok: false, error: expect.stringMatching(/ECONNREFUSED/) });
    const missing = await runAction({ type: "http-get", url: `https://127.0.0.1:${port}/`, ...files, keyFile: join(dir, "none.key"), burst: 0, upgrade: false, timeout: 5 });
    expect(missing).toMatchObject({ ok: false, error: expect.stringContaining(join(dir, "none.key")) });
  });
});
