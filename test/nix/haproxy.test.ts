import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { createServer as createHttpsServer, type Server } from "node:https";
import { createServer as createNetServer } from "node:net";
import { join } from "node:path";
import { connect as tlsConnect } from "node:tls";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseInventory, type Inventory } from "../../src/common/inventory.js";
import { generateKeyPair, x509 } from "../../src/common/x509.js";
import { hostPlan } from "../../src/plan/index.js";

/**
 * The load balancers' haproxy configuration, the file of the load balancer's
 * plan exactly as nix/modules/plan.nix puts it into /etc, run with Debian's
 * real haproxy on loopback: the API virtual IP passes TLS through to the
 * apiservers (the client sees the apiserver's own certificate), and an
 * apiserver whose /readyz fails, or that is down, gets no traffic until it is
 * ready again. The apiservers are small HTTPS servers standing in for
 * kube-apiserver (only /readyz and the TLS handshake matter here). One change
 * to the file: its loopback monitor port (fixed, 8404) becomes a free one, so
 * parallel test runs do not collide. `haproxy -c` of every planned config:
 * test/plan/configs.test.ts.
 */

async function haproxyConfig(inv: Inventory): Promise<string> {
  const lb = inv.hosts.find((h) => h.role === "loadbalancer")!;
  const cfg = hostPlan(inv, lb.name).files.find((f) => f.path.endsWith("/haproxy.cfg"))!.content;
  expect(cfg).toContain("bind 127.0.0.1:8404");
  return cfg.replace("bind 127.0.0.1:8404", `bind 127.0.0.1:${await freePort("127.0.0.1")}`);
}

async function freePort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createNetServer();
    srv.once("error", reject);
    srv.listen(0, host, () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

async function selfSigned(cn: string): Promise<{ key: string; cert: string }> {
  const kp = await generateKeyPair("ec");
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: "01",
    name: `CN=${cn}`,
    notBefore: new Date(Date.now() - 60_000),
    notAfter: new Date(Date.now() + 3600_000),
    keys: kp.keys,
    signingAlgorithm: kp.algorithm,
  });
  return { key: kp.privateKeyPem, cert: cert.toString("pem") };
}

/** A stand-in apiserver: HTTPS on its host address, /readyz 200 or 500 as told. */
async function fakeApiserver(name: string, address: string, port: number) {
  const state = { ready: true };
  const tls = await selfSigned(name);
  const server: Server = createHttpsServer(tls, (req, res) => {
    if (req.url === "/readyz") {
      res.writeHead(state.ready ? 200 : 500).end(state.ready ? "ok" : "not ready");
      return;
    }
    res.writeHead(200).end(name);
  });
  await new Promise<void>((resolve) => server.listen(port, address, resolve));
  return { state, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

/** Connects to the VIP and returns the CN of the certificate that answers. */
function whoAnswers(address: string, port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = tlsConnect({ host: address, port, rejectUnauthorized: false }, () => {
      const cn = sock.getPeerCertificate().subject?.CN;
      sock.end();
      resolve(String(cn));
    });
    sock.setTimeout(5000, () => sock.destroy(new Error("timeout")));
    sock.once("error", reject);
  });
}

async function answersFor(n: number, address: string, port: number): Promise<string[]> {
  const out: string[] = [];
  for (let i = 0; i < n; i++) out.push(await whoAnswers(address, port).catch((e: Error) => `error: ${e.message}`));
  return out;
}

/** Polls `sample` until `ok` holds; on timeout the error shows the last sample. */
async function eventually<T>(what: string, sample: () => Promise<T>, ok: (v: T) => boolean, timeoutMs = 30_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  let last: T | undefined;
  while (Date.now() < until) {
    last = await sample();
    if (ok(last)) return;
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`timed out waiting until ${what}; last seen: ${JSON.stringify(last)}`);
}

describe("haproxy from the load balancer's plan on real haproxy", () => {
  describe("end to end on loopback", () => {
    const vip = "127.0.0.10";
    let port: number;
    let inv: Inventory;
    let haproxy: ChildProcess | undefined;
    let haproxyLog = "";
    let dir: string;
    const apis: Awaited<ReturnType<typeof fakeApiserver>>[] = [];

    beforeAll(async () => {
      port = await freePort(vip);
      inv = parseInventory({
        name: "lbe2e",
        hostDomain: "k8s.local",
        apiVip: vip,
        apiPort: port,
        serviceCidr: "10.32.0.0/24",
        podCidr: "10.200.0.0/16",
        vault: { addresses: ["https://127.0.0.5:8200"] },
        hosts: [
          { name: "etcd1", role: "etcd", address: "127.0.0.11" },
          { name: "cp1", role: "controlplane", address: "127.0.0.21" },
          { name: "cp2", role: "controlplane", address: "127.0.0.22" },
          { name: "cp3", role: "controlplane", address: "127.0.0.23" },
          { name: "lb1", role: "loadbalancer", address: "127.0.0.41" },
        ],
      });
      // cp3 never starts: a control-plane host that is down.
      apis.push(await fakeApiserver("cp1", "127.0.0.21", port));
      apis.push(await fakeApiserver("cp2", "127.0.0.22", port));
      apis[1]!.state.ready = false;
      dir = mkdtempSync(join(tmpdir(), "hak-haproxy-"));
      const cfg = join(dir, "e2e.cfg");
      writeFileSync(cfg, await haproxyConfig(inv));
      haproxy = spawn("haproxy", ["-db", "-f", cfg], { stdio: ["ignore", "pipe", "pipe"] });
      haproxy.stdout!.on("data", (d: Buffer) => (haproxyLog += d.toString()));
      haproxy.stderr!.on("data", (d: Buffer) => (haproxyLog += d.toString()));
    });

    afterAll(async () => {
      haproxy?.kill("SIGTERM");
      await Promise.all(apis.map((a) => a.close()));
      rmSync(dir, { recursive: true, force: true });
    });

    it("passes TLS through to ready apiservers only, and brings one back once /readyz passes", async () => {
      // haproxy starts with every server up and marks one down after 3 failed checks.
      await eventually(
        "only the ready apiserver answers",
        () => answersFor(6, vip, port),
        (seen) => seen.every((cn) => cn === "cp1"),
      );
      const steady = await answersFor(10, vip, port);
      // The certificate the client sees is the apiserver's own: haproxy did not terminate TLS.
      expect(steady, haproxyLog).toEqual(Array(10).fill("cp1"));

      apis[1]!.state.ready = true;
      await eventually(
        "cp2 gets traffic again",
        () => answersFor(6, vip, port),
        (seen) => seen.includes("cp2"),
      );
      const both = new Set(await answersFor(10, vip, port));
      expect([...both].sort()).toEqual(["cp1", "cp2"]);
    });
  });
});
