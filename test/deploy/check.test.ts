import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { createServer as createHttpServer, type Server } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort, type LocalBao } from "../../src/common/localbao.js";
import { checkCluster, renderCheck, type CheckOptions, type CheckReport } from "../../src/deploy/check.js";
import { KnownHosts } from "../../src/deploy/ssh.js";
import { bootstrap } from "../../src/pki/bootstrap.js";
import { signProfile, type SignedCert } from "../../src/pki/issue.js";
import { devBao } from "../helpers/bao.js";
import { runCli } from "./helpers/cli.js";
import { loopbackInventory, startSshHosts, type SshHosts } from "./helpers/cluster.js";

// Real: sshd per host, OpenBao issuing every certificate, a one-member etcd
// on etcd1's address with client-cert auth, etcdctl run over SSH.
// STAND-INS (hak-agent is another part, kube-apiserver is not installed
// here): a plain HTTP server answering the agent's /readyz, and an HTTPS
// server on the virtual IP with the apiserver's real certificate answering
// /readyz. worker1 has no sshd: an unreachable host.
const apiPort = await freePort();
const base = loopbackInventory("checktest", "127.0.44", [
  { name: "etcd1", role: "etcd", last: 11 },
  { name: "cp1", role: "controlplane", last: 21 },
  { name: "worker1", role: "worker", last: 31 },
]);
const inv = { ...base, apiPort };
const host = (n: string) => inv.hosts.find((h) => h.name === n)!;

let dir: string;
let agentRoot: string;
let certDir: string;
let bao: LocalBao;
let hosts: SshHosts;
let agentReady = true;
let agentServer: Server;
let agentPort: number;
let apiServer: Server;
let etcd: ChildProcess | undefined;

function options(extra: Partial<CheckOptions> = {}): CheckOptions {
  return {
    ssh: hosts.settings,
    knownHosts: new KnownHosts(hosts.knownHostsFile),
    paths: { agentUrl: `http://127.0.0.1:${agentPort}/readyz`, certDir },
    parallel: 3,
    ...extra,
  };
}

function item(r: CheckReport, h: string, check: string) {
  return r.items.find((i) => i.host === h && i.check === check);
}

/** Writes a signed cert as the agent lays files out (src/plan/paths.ts): <profile>.crt/.key, <ca>-ca.crt. */
function install(hostName: string, s: SignedCert, ca: string): void {
  const d = hosts.onHost(hostName, certDir);
  mkdirSync(d, { recursive: true });
  writeFileSync(join(d, `${s.profile}.crt`), s.certPem);
  writeFileSync(join(d, `${s.profile}.key`), s.keyPem, { mode: 0o600 });
  writeFileSync(join(d, `${ca}-ca.crt`), s.caPem);
}

async function startEtcd(server: SignedCert, peer: SignedCert): Promise<ChildProcess> {
  const d = join(dir, "etcd");
  mkdirSync(d, { recursive: true });
  for (const [n, v] of Object.entries({ "server.crt": server.certPem, "server.key": server.keyPem, "peer.crt": peer.certPem, "peer.key": peer.keyPem, "ca.crt": server.caPem }))
    writeFileSync(join(d, n), v, { mode: 0o600 });
  const a = host("etcd1").address;
  const proc = spawn(
    "etcd",
    [
      "--name=etcd1", `--data-dir=${join(d, "data")}`,
      `--listen-client-urls=https://${a}:2379`, `--advertise-client-urls=https://${a}:2379`,
      `--listen-peer-urls=https://${a}:2380`, `--initial-advertise-peer-urls=https://${a}:2380`,
      `--initial-cluster=etcd1=https://${a}:2380`, "--initial-cluster-state=new",
      `--cert-file=${join(d, "server.crt")}`, `--key-file=${join(d, "server.key")}`, "--client-cert-auth", `--trusted-ca-file=${join(d, "ca.crt")}`,
      `--peer-cert-file=${join(d, "peer.crt")}`, `--peer-key-file=${join(d, "peer.key")}`, "--peer-client-cert-auth", `--peer-trusted-ca-file=${join(d, "ca.crt")}`,
      "--log-level=error",
    ],
    { stdio: "ignore" },
  );
  // Ready when it answers a client-cert request (etcdctl here, with the same certificates).
  const client = ["--endpoints", `https://${a}:2379`, "--cacert", join(d, "ca.crt"), "--cert", join(d, "server.crt"), "--key", join(d, "server.key")];
  for (let i = 0; i < 100; i++) {
    if (proc.exitCode !== null) throw new Error(`etcd exited with ${proc.exitCode}`);
    if (spawnSync("etcdctl", [...client, "--dial-timeout=1s", "endpoint", "health"], { stdio: "ignore" }).status === 0) return proc;
    await sleep(100);
  }
  throw new Error("etcd did not become healthy");
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "hak-check-"));
  agentRoot = join(dir, "agent");
  certDir = join(agentRoot, "certs");
  bao = await devBao();
  const root = bao.client();
  await bootstrap(root, inv);
  hosts = await startSshHosts(dir, [host("etcd1"), host("cp1")], { privateDir: agentRoot });
  const sign = (profile: string, h?: string) => signProfile(root, inv, { profile, host: h });
  const etcdServer = await sign("etcd-server", "etcd1");
  const etcdPeer = await sign("etcd-peer", "etcd1");
  install("etcd1", etcdServer, "etcd");
  install("etcd1", etcdPeer, "etcd");
  install("etcd1", await sign("etcd-healthcheck-client"), "etcd");
  const apiserver = await sign("apiserver", "cp1");
  install("cp1", apiserver, "kubernetes");
  await root.close();
  agentPort = await freePort();
  agentServer = createHttpServer((req, res) => {
    res.writeHead(req.url === "/readyz" && agentReady ? 200 : 503).end(agentReady ? "ok" : "not ready");
  }).listen(agentPort, "127.0.0.1");
  apiServer = createHttpsServer({ cert: apiserver.certPem, key: apiserver.keyPem }, (req, res) => {
    res.writeHead(req.url === "/readyz" ? 200 : 404).end("ok");
  }).listen(apiPort, inv.apiVip);
  etcd = await startEtcd(etcdServer, etcdPeer);
});

afterAll(async () => {
  etcd?.kill();
  agentServer?.close();
  apiServer?.close();
  await hosts?.stop();
  await bao?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe("hak-deploy check over real sshd", () => {
  it("passes on healthy hosts: agent, certificates, etcd over mTLS, apiserver through the VIP (exit 0 from the CLI)", async () => {
    const keyFile = join(dir, "id");
    writeFileSync(keyFile, hosts.settings.privateKey!, { mode: 0o600 });
    writeFileSync(join(dir, "inv.json"), JSON.stringify(inv));
    const { code, out } = await runCli([
      "check", "etcd1", "cp1", "-i", join(dir, "inv.json"), "--json",
      "--ssh-key", keyFile, "--ssh-port", String(hosts.port), "--known-hosts", hosts.knownHostsFile,
      "--agent-url", `http://127.0.0.1:${agentPort}/readyz`, "--cert-dir", certDir,
    ]);
    const r = JSON.parse(out) as CheckReport;
    expect(r.items.filter((i) => !i.ok)).toEqual([]);
    expect(code).toBe(0);
    expect(item(r, "etcd1", "etcd")?.detail).toMatch(/^1 member, one leader, etcd 3\./);
    expect(item(r, "cp1", "apiserver")?.detail).toBe(`https://${inv.apiVip}:${apiPort}/readyz: ok`);
    expect(r.certificates.map((c) => `${c.host} ${c.file} ${c.profile ?? "(CA)"}`).sort()).toEqual(
      [
        "cp1 apiserver.crt apiserver", "cp1 kubernetes-ca.crt (CA)",
        "etcd1 etcd-ca.crt (CA)", "etcd1 etcd-healthcheck-client.crt etcd-healthcheck-client", "etcd1 etcd-peer.crt etcd-peer", "etcd1 etcd-server.crt etcd-server",
      ].sort(),
    );
  });

  it("reports an unreachable host and a failing agent, keeps checking the others, and fails", async () => {
    agentReady = false;
    try {
      const r = await checkCluster(inv, inv.hosts, options());
      expect(r.ok).toBe(false);
      expect(item(r, "worker1", "ssh")).toMatchObject({ ok: false, detail: expect.stringContaining("connection refused") });
      expect(item(r, "etcd1", "agent")).toMatchObject({ ok: false, detail: expect.stringContaining("503") });
      expect(item(r, "etcd1", "etcd")?.ok).toBe(true);
      expect(item(r, "cp1", "apiserver")?.ok).toBe(true);
      const text = renderCheck(r);
      expect(text).toMatch(/worker1\s+ssh\s+FAILED\s+worker1 \(root@127\.0\.44\.31:\d+\): connection refused/);
      expect(text).toContain("3 checks FAILED");
    } finally {
      agentReady = true;
    }
  });

  it("says a cluster-wide check did not run when no host of its role was reachable", async () => {
    const moved = { ...inv, hosts: inv.hosts.map((h) => (h.name === "etcd1" ? { ...h, address: "127.0.44.12" } : h)) };
    const r = await checkCluster(moved, moved.hosts.filter((h) => h.name === "etcd1"), options());
    expect(r.ok).toBe(false);
    expect(item(r, "etcd1", "ssh")?.ok).toBe(false);
    expect(item(r, "etcd1", "etcd")).toEqual({ host: "etcd1", check: "etcd", ok: false, detail: "not run: no etcd host could be reached" });
  });

  it("fails on certificates past their renewal deadline or expired", async () => {
    const later = new Date(Date.now() + 23 * 3600 * 1000); // leafTtl 24h: in the last sixth
    const r = await checkCluster(inv, [host("cp1")], options({ now: () => later }));
    expect(item(r, "cp1", "certificates")).toMatchObject({ ok: false, detail: expect.stringMatching(/^apiserver\.crt late/) });
    const much = new Date(Date.now() + 2 * 86400 * 1000);
    const r2 = await checkCluster(inv, [host("cp1")], options({ now: () => much }));
    expect(item(r2, "cp1", "certificates")?.detail).toMatch(/apiserver\.crt expired/);
  });

  it("fails the etcd check, naming the member, when etcd is down", async () => {
    etcd?.kill();
    await new Promise((r) => etcd?.once("exit", r));
    etcd = undefined;
    const r = await checkCluster(inv, [host("etcd1")], options());
    expect(item(r, "etcd1", "etcd")).toMatchObject({ ok: false });
    expect(item(r, "etcd1", "etcd")?.detail).toMatch(/127\.0\.44\.11:2379/);
  });
});
