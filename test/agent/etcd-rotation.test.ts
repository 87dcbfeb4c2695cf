import { execFile, spawn, type ChildProcess } from "node:child_process";
import { readFileSync, realpathSync } from "node:fs";
import { request } from "node:https";
import { connect } from "node:tls";
import { dirname, join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { findHost } from "../../src/common/inventory.js";
import { certFacts, formatSerial } from "../../src/common/x509.js";
import { Agent } from "../../src/agent/agent.js";
import type { AgentConfig, CertificateOutput } from "../../src/agent/config.js";
import { certOutput, hostConfig, loopbackInventory, memoryLogger, startLab, type Lab } from "./fixture.js";

/**
 * The whole point: three agents keep a real 3-node etcd cluster (Debian's
 * etcd 3.4) on certificates that live one minute, rotating each of them at
 * least twice while a client writes in a loop, with no failed write.
 * etcd reads its certificate files on every new TLS handshake (client and
 * peer), so rotation needs no restart and the etcd outputs have no action.
 * One-minute leaves: renewal at 2/3 ± 10% = 34–46 s after issuance, the
 * late point at 50 s, so two rotations take about 90 s.
 */

const run = promisify(execFile);
// A loopback /24 of its own per run (127.0.100–163): two runs at once (two
// checkouts on one machine) would otherwise answer each other's handshakes.
const inv = loopbackInventory("rot", `127.0.${100 + Math.floor(Math.random() * 64)}`, { leafTtl: "1m" });
const ETCD_HOSTS = ["etcd1", "etcd2", "etcd3"];
const CLIENT_PORT = 23791;
const PEER_PORT = 23801;
let lab: Lab;
const agents: { agent: Agent; cfg: AgentConfig; stop: AbortController; done: Promise<void> }[] = [];
const etcds: ChildProcess[] = [];

const addr = (h: string) => findHost(inv, h)!.address;
const clientUrl = (h: string) => `https://${addr(h)}:${CLIENT_PORT}`;
const certOutputs = () => agents.flatMap((a) => a.cfg.outputs.filter((o): o is CertificateOutput => o.type === "certificate").map((o) => ({ host: a.cfg.host, o })));

beforeAll(async () => {
  lab = await startLab(inv);
  for (const host of ETCD_HOSTS) {
    const dir = join(lab.dir, host);
    const outs = [certOutput(inv, host, "etcd-server", join(dir, "pki")), certOutput(inv, host, "etcd-peer", join(dir, "pki"))];
    if (host === "etcd1") outs.push(certOutput(inv, host, "etcd-healthcheck-client", join(dir, "pki")));
    const cfg = await hostConfig(lab, host, dir, outs, { secretId: true });
    const agent = new Agent(cfg, { log: memoryLogger().log });
    const stop = new AbortController();
    agents.push({ agent, cfg, stop, done: agent.run(stop.signal) });
  }
  const deadline = Date.now() + 30_000;
  while (agents.some((a) => a.agent.notReady().length > 0) && Date.now() < deadline) await sleep(200);
  expect(agents.map((a) => a.agent.notReady())).toEqual([[], [], []]);

  const cluster = ETCD_HOSTS.map((h) => `${h}=https://${addr(h)}:${PEER_PORT}`).join(",");
  for (const host of ETCD_HOSTS) {
    const pki = join(lab.dir, host, "pki");
    const p = spawn(
      "/usr/bin/etcd",
      [
        `--name=${host}`,
        `--data-dir=${join(lab.dir, host, "etcd-data")}`,
        `--listen-client-urls=${clientUrl(host)}`,
        `--advertise-client-urls=${clientUrl(host)}`,
        `--listen-peer-urls=https://${addr(host)}:${PEER_PORT}`,
        `--initial-advertise-peer-urls=https://${addr(host)}:${PEER_PORT}`,
        `--initial-cluster=${cluster}`,
        "--initial-cluster-state=new",
        "--initial-cluster-token=hak-rotation",
        "--client-cert-auth",
        `--trusted-ca-file=${join(pki, "etcd-server-ca.crt")}`,
        `--cert-file=${join(pki, "etcd-server.crt")}`,
        `--key-file=${join(pki, "etcd-server.key")}`,
        "--peer-client-cert-auth",
        `--peer-trusted-ca-file=${join(pki, "etcd-peer-ca.crt")}`,
        `--peer-cert-file=${join(pki, "etcd-peer.crt")}`,
        `--peer-key-file=${join(pki, "etcd-peer.key")}`,
        "--log-level=warn",
      ],
      { stdio: ["ignore", "ignore", "ignore"] },
    );
    etcds.push(p);
  }
}, 90_000);

afterAll(async () => {
  for (const p of etcds) p.kill("SIGTERM");
  for (const a of agents) a.stop.abort();
  await Promise.all(agents.map((a) => a.done.catch(() => undefined)));
  await Promise.all(etcds.map((p) => (p.exitCode === null ? new Promise((r) => p.once("exit", r)) : undefined)));
  await lab?.cleanup();
});

function clientTls() {
  // Read through the current generation folder once, so the client's own pair is always one generation.
  const dir = dirname(realpathSync(join(lab.dir, "etcd1", "pki", "etcd-healthcheck-client.crt")));
  return { cert: readFileSync(join(dir, "cert.pem")), key: readFileSync(join(dir, "key.pem")), ca: readFileSync(join(dir, "ca.pem")) };
}

/** One write over the gRPC gateway, on a new TLS connection each time (so every write is a fresh handshake). */
function put(host: string, key: string, value: string): Promise<void> {
  const body = JSON.stringify({ key: Buffer.from(key).toString("base64"), value: Buffer.from(value).toString("base64") });
  return new Promise((resolve, reject) => {
    const req = request(`${clientUrl(host)}/v3/kv/put`, { method: "POST", agent: false, ...clientTls(), timeout: 5000 }, (res) => {
      let text = "";
      res.on("data", (d: Buffer) => (text += d.toString()));
      res.on("end", () => (res.statusCode === 200 ? resolve() : reject(new Error(`HTTP ${res.statusCode}: ${text}`))));
    });
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.on("error", reject);
    req.end(body);
  });
}

/** The serial of the server certificate etcd presents on a new TLS connection. */
function servedSerial(host: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = connect({ host: addr(host), port: CLIENT_PORT, ...clientTls(), servername: host }, () => {
      const serial = formatSerial(sock.getPeerCertificate().serialNumber);
      sock.end();
      resolve(serial);
    });
    sock.on("error", reject);
  });
}

async function etcdctl(...args: string[]): Promise<string> {
  const pki = join(lab.dir, "etcd1", "pki");
  const { stdout, stderr } = await run("etcdctl", [
    `--endpoints=${ETCD_HOSTS.map(clientUrl).join(",")}`,
    `--cacert=${join(pki, "etcd-healthcheck-client-ca.crt")}`,
    `--cert=${join(pki, "etcd-healthcheck-client.crt")}`,
    `--key=${join(pki, "etcd-healthcheck-client.key")}`,
    ...args,
  ], { env: { ...process.env, ETCDCTL_API: "3" } });
  return stdout + stderr;
}

describe("a 3-node etcd cluster on agent-issued certificates", () => {
  it("is healthy over mTLS: etcdctl endpoint health --cluster", async () => {
    const deadline = Date.now() + 30_000;
    let out = "";
    while (Date.now() < deadline) {
      out = await etcdctl("endpoint", "health", "--cluster").catch((e: { stdout?: string; stderr?: string }) => `${e.stdout ?? ""}${e.stderr ?? ""}`);
      if ((out.match(/is healthy/g) ?? []).length === 3) break;
      await sleep(500);
    }
    expect((out.match(/is healthy/g) ?? []).length).toBe(3);
  }, 40_000);

  it("rotates every certificate at least twice while a client writes in a loop: no failed write, cluster healthy", async () => {
    const seen = new Map<string, Set<string>>();
    const record = () => {
      for (const { host, o } of certOutputs()) {
        const key = `${host}/${o.name}`;
        if (!seen.has(key)) seen.set(key, new Set());
        seen.get(key)!.add(certFacts(readFileSync(o.certFile, "utf8")).serial);
      }
    };
    record();
    const first = new Map([...seen].map(([k, v]) => [k, [...v][0]!]));
    let writes = 0;
    const failures: string[] = [];
    let writing = true;
    const writer = (async () => {
      for (let i = 0; writing; i++) {
        const host = ETCD_HOSTS[i % 3]!;
        try {
          await put(host, `hak/rotation/${i % 50}`, `write ${i}`);
          writes++;
        } catch (err) {
          failures.push(`${host}: ${(err as Error).message}`);
        }
        await sleep(100);
      }
    })();
    const deadline = Date.now() + 150_000;
    while (Date.now() < deadline && [...seen.values()].some((s) => s.size < 3)) {
      await sleep(1000);
      record();
    }
    writing = false;
    await writer;
    expect(Object.fromEntries([...seen].map(([k, v]) => [k, v.size >= 3]))).toEqual(Object.fromEntries([...seen.keys()].map((k) => [k, true])));
    for (const { host, o } of certOutputs()) expect(certFacts(readFileSync(o.certFile, "utf8")).serial).not.toBe(first.get(`${host}/${o.name}`));
    expect(failures).toEqual([]);
    expect(writes).toBeGreaterThan(300);
    const health = await etcdctl("endpoint", "health", "--cluster");
    expect((health.match(/is healthy/g) ?? []).length).toBe(3);
    expect(await etcdctl("get", "hak/rotation/7", "--print-value-only")).toMatch(/^write \d+/);
    // etcd serves the certificate now on disk, not the one it started with: it re-read the files, no restart.
    for (const host of ETCD_HOSTS) {
      const onDisk = certFacts(readFileSync(join(lab.dir, host, "pki", "etcd-server.crt"), "utf8")).serial;
      const served = await servedSerial(host);
      expect(served).toBe(onDisk);
      expect(served).not.toBe(first.get(`${host}/etcd-server`));
    }
    // Nobody was late, no output failed, every agent is still ready.
    for (const a of agents) {
      expect(a.agent.notReady()).toEqual([]);
      const text = await a.agent.metrics.registry.metrics();
      expect(text).not.toMatch(/^hak_agent_certificate_late\{[^}]*\} 1$/m);
      expect(text).not.toMatch(/^hak_agent_output_failures_total\{/m);
    }
  }, 170_000);
});
