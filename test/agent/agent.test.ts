import { execFile } from "node:child_process";
import { createServer as createHttpServer, type Server } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import { existsSync, lstatSync, mkdirSync, readFileSync, readlinkSync, statSync, writeFileSync } from "node:fs";
import type { TLSSocket } from "node:tls";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PKCS8_PEM, pemLike } from "../helpers/pem.js";
import { parse as parseYaml } from "yaml";
import { freePort } from "../../src/common/localbao.js";
import { SERVICE_ACCOUNT_SECRET } from "../../src/common/names.js";
import { certFacts, keyMatchesCert, signedBy } from "../../src/common/x509.js";
import { Agent } from "../../src/agent/agent.js";
import type { AgentConfig } from "../../src/agent/config.js";
import { agentApp, listenHttp } from "../../src/agent/http.js";
import { main } from "../../src/agent/cli.js";
import { storeDir } from "../../src/agent/writer.js";
import { certOutput, hostConfig, loopbackInventory, memoryLogger, startLab, type Lab } from "./fixture.js";

/**
 * The agent against a real OpenBao bootstrapped by hak-pki: first start with
 * AppRole, cert auth afterwards, reuse on restart, SAN change, actions,
 * permissions, kubeconfig and secret outputs, Vault outages and garbage,
 * unreadable and unwritable paths, HTTP and CLI.
 */

const run = promisify(execFile);
const inv = loopbackInventory("agt", "127.0.31", { leafTtl: "1h" });
let lab: Lab;

beforeAll(async () => {
  lab = await startLab(inv);
}, 90_000);

afterAll(async () => {
  await lab?.cleanup();
});

const serialOf = (file: string) => certFacts(readFileSync(file, "utf8")).serial;
const metric = async (a: Agent, name: string, labels = "") => {
  const text = await a.metrics.registry.metrics();
  const line = text.split("\n").find((l) => l.startsWith(`${name}${labels ? `{${labels}}` : ""} `) || (labels === "" && l.startsWith(`${name}{`)));
  return line ? Number(line.split(" ").pop()) : 0;
};
const sumMetric = async (a: Agent, name: string) => {
  const text = await a.metrics.registry.metrics();
  return text
    .split("\n")
    .filter((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `))
    .reduce((s, l) => s + Number(l.split(" ").pop()), 0);
};

describe("an etcd host's agent", () => {
  let dir: string;
  let cfg: AgentConfig;
  const TEST_UID = 4242;
  const TEST_GID = 4343;

  beforeAll(async () => {
    dir = join(lab.dir, "etcd1");
    mkdirSync(dir, { recursive: true });
    const touch = join(dir, "reloads.log");
    const reload = { type: "command" as const, argv: ["sh", "-c", `echo reload >> ${touch}`] };
    cfg = await hostConfig(
      lab,
      "etcd1",
      dir,
      [
        certOutput(inv, "etcd1", "etcd-server", join(dir, "pki"), { owner: TEST_UID, group: TEST_GID, mode: "0640", actions: [reload], bundleFile: join(dir, "pki", "server.pem") }),
        certOutput(inv, "etcd1", "etcd-peer", join(dir, "pki"), { keyType: "rsa", actions: [reload, { type: "command", argv: ["false"] }] }),
      ],
      { secretId: true },
    );
  });

  it("first start: AppRole with the single-use secret ID, which is then removed; identity and certificates written", async () => {
    const agent = new Agent(cfg, { log: memoryLogger().log });
    const changed = await agent.pass();
    await agent.flushActions(true);
    expect(changed.sort()).toEqual(["etcd-peer", "etcd-server", "host-identity"]);
    expect(agent.session.method).toBe("approle");
    expect(existsSync(cfg.auth.secretIdFile)).toBe(false);
    expect(agent.notReady()).toEqual([]);

    const server = cfg.outputs[1]!;
    if (server.type !== "certificate") throw new Error("fixture");
    const f = certFacts(readFileSync(server.certFile, "utf8"));
    expect(f.commonName).toBe("etcd1");
    expect(f.organizationalUnit).toEqual(["hak:etcd-server"]);
    expect(f.dns.sort()).toEqual(["etcd1", "etcd1.k8s.local", "localhost"]);
    expect(f.ip.sort()).toEqual(["127.0.0.1", "127.0.31.11", "::1"]);
    expect(f.publicKeyAlgorithm).toBe("ECDSA");
    expect(keyMatchesCert(readFileSync(server.keyFile, "utf8"), readFileSync(server.certFile, "utf8"))).toBe(true);
    expect(signedBy(readFileSync(server.certFile, "utf8"), readFileSync(server.caFile!, "utf8"))).toBe(true);
    expect(certFacts(readFileSync(join(dir, "pki", "etcd-peer.crt"), "utf8")).publicKeyAlgorithm).toBe("RSASSA-PKCS1-v1_5");

    // The configured paths are symlinks into the current generation.
    expect(lstatSync(server.certFile).isSymbolicLink()).toBe(true);
    expect(readlinkSync(join(storeDir(server), "current"))).toMatch(/^gen-/);
    // Permissions: key with the configured mode and owner; certificate readable by all; bundle like the key.
    const key = statSync(server.keyFile);
    expect([key.mode & 0o777, key.uid, key.gid]).toEqual([0o640, TEST_UID, TEST_GID]);
    const crt = statSync(server.certFile);
    expect([crt.mode & 0o777, crt.uid, crt.gid]).toEqual([0o644, TEST_UID, TEST_GID]);
    const bundle = statSync(join(dir, "pki", "server.pem"));
    expect([bundle.mode & 0o777, bundle.uid]).toEqual([0o640, TEST_UID]);
    expect(statSync(join(dir, "pki", "etcd-peer.key")).mode & 0o777).toBe(0o600);
    expect(statSync(join(dir, "identity", "host-identity.key")).mode & 0o777).toBe(0o600);

    // Two outputs share one reload command: it ran once; the failing action was counted, not fatal.
    expect(readFileSync(join(dir, "reloads.log"), "utf8")).toBe("reload\n");
    expect(await metric(agent, "hak_agent_action_runs_total", 'action="command false",result="failure"')).toBe(1);
    expect(await metric(agent, "hak_agent_action_runs_total", 'action="command sh",result="success"')).toBe(1);
    expect(await metric(agent, "hak_agent_vault_logins_total", 'method="approle",result="success"')).toBe(1);
    expect(await metric(agent, "hak_agent_certificate_expiration_timestamp_seconds", 'output="etcd-server"')).toBe(f.notAfter.getTime() / 1000);
    await agent.session.close();
  });

  it("restart: reuses every certificate, logs in with its host identity (TLS cert auth)", async () => {
    const before = ["etcd-server", "etcd-peer"].map((n) => serialOf(join(dir, "pki", `${n}.crt`)));
    const agent = new Agent(cfg, { log: memoryLogger().log });
    expect(await agent.pass()).toEqual([]);
    expect(["etcd-server", "etcd-peer"].map((n) => serialOf(join(dir, "pki", `${n}.crt`)))).toEqual(before);
    expect(await sumMetric(agent, "hak_agent_certificates_issued_total")).toBe(0);
    await agent.session.ensure();
    expect(agent.session.method).toBe("cert");
    await agent.session.close();
  });

  it("a changed SAN in the config leads to exactly one new certificate", async () => {
    const serverBefore = serialOf(join(dir, "pki", "etcd-server.crt"));
    const peerBefore = serialOf(join(dir, "pki", "etcd-peer.crt"));
    const changedCfg = structuredClone(cfg);
    const out = changedCfg.outputs[1]!;
    if (out.type !== "certificate") throw new Error("fixture");
    out.dns = out.dns.filter((d) => d !== "localhost");
    const agent = new Agent(changedCfg, { log: memoryLogger().log });
    expect(await agent.pass()).toEqual(["etcd-server"]);
    expect(await agent.pass()).toEqual([]);
    expect(await sumMetric(agent, "hak_agent_certificates_issued_total")).toBe(1);
    expect(serialOf(join(dir, "pki", "etcd-server.crt"))).not.toBe(serverBefore);
    expect(serialOf(join(dir, "pki", "etcd-peer.crt"))).toBe(peerBefore);
    expect(certFacts(readFileSync(out.certFile, "utf8")).dns).not.toContain("localhost");
    await agent.session.close();
    // Back to the original config: one more issuance, for the next tests.
    const back = new Agent(cfg, { log: memoryLogger().log });
    expect(await back.pass()).toEqual(["etcd-server"]);
    await back.session.close();
  });

  it("Vault stopped past the renewal point: files untouched, failures counted, late alert; renewal completes when Vault is back", async () => {
    const hooks: unknown[] = [];
    const hook: Server = createHttpServer((req, res) => {
      let body = "";
      req.on("data", (d: Buffer) => (body += d.toString()));
      req.on("end", () => {
        hooks.push(JSON.parse(body));
        res.end("ok");
      });
    });
    await new Promise<void>((r) => hook.listen(0, "127.0.0.1", r));
    const hookUrl = `http://127.0.0.1:${(hook.address() as { port: number }).port}/late`;
    // The agent's clock runs ahead: 52 of the 60 minutes of life are gone (past 2/3 and past 5/6).
    let offset = 52 * 60_000;
    const cfgHook = { ...cfg, lateWebhook: hookUrl };
    const agent = new Agent(cfgHook, { log: memoryLogger().log, now: () => Date.now() + offset });
    const files = ["etcd-server.crt", "etcd-server.key", "etcd-peer.crt", "etcd-peer.key"].map((f) => join(dir, "pki", f));
    const snapshot = () => files.map((f) => readFileSync(f, "utf8"));
    const before = snapshot();
    try {
      await lab.stopBao();
      expect(await agent.pass()).toEqual([]);
      expect(snapshot()).toEqual(before);
      const failures1 = await sumMetric(agent, "hak_agent_vault_request_failures_total");
      expect(failures1).toBeGreaterThan(0);
      expect(await metric(agent, "hak_agent_output_failures_total", 'output="etcd-server"')).toBe(1);
      expect(await metric(agent, "hak_agent_certificate_late", 'output="etcd-server"')).toBe(1);
      expect(hooks.map((h) => (h as { output: string }).output).sort()).toEqual(["etcd-peer", "etcd-server", "host-identity"]);
      // Still ready: the old certificates are valid, only late.
      expect(agent.notReady()).toEqual([]);

      offset += 10_000; // past the backoff
      await agent.pass();
      expect(snapshot()).toEqual(before);
      expect(await sumMetric(agent, "hak_agent_vault_request_failures_total")).toBeGreaterThan(failures1);
      expect(await metric(agent, "hak_agent_output_failures_total", 'output="etcd-server"')).toBe(2);

      await lab.startBao();
      // Raft elects itself a moment after unseal; the agent retries with backoff until the renewal goes through.
      const changed: string[] = [];
      for (let i = 0; i < 30 && changed.length < 3; i++) {
        offset += 10_000;
        changed.push(...(await agent.pass()));
        if (changed.length < 3) await new Promise((r) => setTimeout(r, 300));
      }
      expect(changed.sort()).toEqual(["etcd-peer", "etcd-server", "host-identity"]);
      const after = snapshot();
      expect(after.every((c, i) => c !== before[i])).toBe(true);
      expect(await metric(agent, "hak_agent_certificate_late", 'output="etcd-server"')).toBe(0);
      expect(agent.session.method).toBe("cert");
    } finally {
      hook.close();
      await agent.session.close();
      if (!(await lab.root.request("GET", "sys/health").then(() => true, () => false))) await lab.startBao();
    }
  }, 90_000);

  it("a directory it cannot write: a clear error, existing files untouched", async () => {
    const pkiDir = join(dir, "pki");
    const before = readFileSync(join(pkiDir, "etcd-server.crt"), "utf8");
    const agent = new Agent(cfg, { log: memoryLogger().log, now: () => Date.now() + 59 * 60_000 });
    await run("chattr", ["+i", pkiDir, join(pkiDir, ".hak-etcd-server"), join(pkiDir, ".hak-etcd-peer")]);
    try {
      await agent.pass();
    } finally {
      await run("chattr", ["-i", pkiDir, join(pkiDir, ".hak-etcd-server"), join(pkiDir, ".hak-etcd-peer")]);
      await agent.session.close();
    }
    const err = agent.status().find((s) => s.name === "etcd-server")!.lastError!;
    expect(err).toMatch(/cannot (create|write).*EPERM/);
    expect(err).toMatch(/\.hak-etcd-server/);
    expect(readFileSync(join(pkiDir, "etcd-server.crt"), "utf8")).toBe(before);
  });
});

describe("first-start and input errors", () => {
  it("unreadable secret-ID file and no identity: a clear error naming the file, nothing written", async () => {
    const dir = join(lab.dir, "etcd2-bad");
    const cfg = await hostConfig(lab, "etcd2", dir, [certOutput(inv, "etcd2", "etcd-server", join(dir, "pki"))]);
    mkdirSync(cfg.auth.secretIdFile, { recursive: true }); // a folder where the file should be: EISDIR
    const agent = new Agent(cfg, { log: memoryLogger().log });
    await agent.pass();
    const st = agent.status();
    expect(st.find((s) => s.name === "host-identity")!.lastError).toMatch(/secret-id: cannot read the secret-ID file: EISDIR/);
    expect(existsSync(join(dir, "pki"))).toBe(false);
    expect(agent.notReady().sort()).toEqual(["etcd-server", "host-identity"]);
    const missing = await hostConfig(lab, "etcd2", join(lab.dir, "etcd2-none"), []);
    const a2 = new Agent(missing, { log: memoryLogger().log });
    await a2.pass();
    expect(a2.status()[0]!.lastError).toMatch(/no valid host identity certificate on disk and no secret ID[\s\S]*hak-deploy enroll/);
  });

  it("Vault answering garbage: a clear error, files untouched", async () => {
    const junk = createHttpsServer({ key: readFileSync(join(lab.dir, "bao", "tls", "server.key")), cert: readFileSync(join(lab.dir, "bao", "tls", "server.crt")) }, (_req, res) => {
      res.writeHead(200, { "content-type": "text/html" }).end("<html>hello from a captive portal</html>");
    });
    await new Promise<void>((r) => junk.listen(0, "127.0.0.1", r));
    try {
      const dir = join(lab.dir, "etcd1");
      const good = await hostConfig(lab, "etcd1", dir, [certOutput(inv, "etcd1", "etcd-server", join(dir, "pki"))]);
      const cfg = { ...good, vault: { ...good.vault, addresses: [`https://127.0.0.1:${(junk.address() as { port: number }).port}`] } };
      const before = readFileSync(join(dir, "pki", "etcd-server.crt"), "utf8");
      const agent = new Agent(cfg, { log: memoryLogger().log, now: () => Date.now() + 59 * 60_000 });
      await agent.pass();
      expect(agent.status().find((s) => s.name === "etcd-server")!.lastError).toMatch(/answered 200 with a body that is not JSON \(starts with "<html>hello/);
      expect(readFileSync(join(dir, "pki", "etcd-server.crt"), "utf8")).toBe(before);
    } finally {
      junk.close();
    }
  });

  it("hak-agent check: exit 2 with the field path for a bad config, 0 and a table for a good one, changes nothing", async () => {
    const bad = join(lab.dir, "bad.json");
    writeFileSync(bad, JSON.stringify({ host: "etcd1", vault: { addresses: ["nope"] }, auth: {}, outputs: [] }));
    const err: string[] = [];
    const orig = process.stderr.write.bind(process.stderr);
    process.stderr.write = ((s: string) => (err.push(String(s)), true)) as typeof process.stderr.write;
    let code: number;
    try {
      code = await main(["check", bad]);
    } finally {
      process.stderr.write = orig;
    }
    expect(code).toBe(2);
    expect(err.join("")).toMatch(/vault\.addresses\[0\]: not a URL/);
    expect(err.join("")).toMatch(/auth\.roleId: missing \(required\)/);
  });
});

describe("a control-plane host's agent: kubeconfig and secret outputs", () => {
  it("writes a kubeconfig kubectl uses over mTLS and the service-account key from KV", async () => {
    const dir = join(lab.dir, "cp1");
    const cfg = await hostConfig(
      lab,
      "controlplane1",
      dir,
      [
        certOutput(inv, "controlplane1", "apiserver", join(dir, "pki")),
        certOutput(inv, "controlplane1", "scheduler", join(dir, "pki")),
        { type: "kubeconfig", name: "scheduler-kubeconfig", certificate: "scheduler", server: "https://127.0.31.10:6443", clusterName: "agt", path: join(dir, "scheduler.conf") },
        { type: "secret", name: "sa-key", secret: SERVICE_ACCOUNT_SECRET, field: "key", path: join(dir, "sa.key"), mode: "0600" },
        { type: "secret", name: "sa-pub", secret: SERVICE_ACCOUNT_SECRET, field: "pub", path: join(dir, "sa.pub"), mode: "0644" },
      ],
      { secretId: true },
    );
    let offset = 0;
    const agent = new Agent(cfg, { log: memoryLogger().log, now: () => Date.now() + offset });
    expect((await agent.pass()).sort()).toEqual(["apiserver", "host-identity", "sa-key", "sa-pub", "scheduler", "scheduler-kubeconfig"]);
    expect(await agent.pass()).toEqual([]);
    // The secret changes in KV: read again after renewal.secretInterval (10 min), only the changed field is rewritten.
    const kv = await lab.root.read<{ data: Record<string, string> }>(`hak-kv/data/${SERVICE_ACCOUNT_SECRET}`);
    await lab.root.write(`hak-kv/data/${SERVICE_ACCOUNT_SECRET}`, { data: { ...kv!.data, key: pemLike("PRIVATE KEY", "rotated") } });
    expect(await agent.pass()).toEqual([]);
    offset = 11 * 60_000;
    expect(await agent.pass()).toEqual(["sa-key"]);
    expect(readFileSync(join(dir, "sa.key"), "utf8")).toMatch(/rotated/);
    await lab.root.write(`hak-kv/data/${SERVICE_ACCOUNT_SECRET}`, { data: kv!.data });
    offset = 22 * 60_000;
    expect(await agent.pass()).toEqual(["sa-key"]);
    await agent.session.close();
    expect(readFileSync(join(dir, "sa.key"), "utf8")).toMatch(PKCS8_PEM);
    expect(readFileSync(join(dir, "sa.pub"), "utf8")).toMatch(/^-----BEGIN PUBLIC KEY-----/);
    expect(statSync(join(dir, "sa.key")).mode & 0o777).toBe(0o600);
    expect(statSync(join(dir, "scheduler.conf")).mode & 0o777).toBe(0o600);
    const kc = parseYaml(readFileSync(join(dir, "scheduler.conf"), "utf8")) as { users: { name: string }[] };
    expect(kc.users[0]!.name).toBe("system:kube-scheduler");

    const seen: { cn?: string } = {};
    const api = createHttpsServer(
      { cert: readFileSync(join(dir, "pki", "apiserver.crt")), key: readFileSync(join(dir, "pki", "apiserver.key")), ca: readFileSync(join(dir, "pki", "scheduler-ca.crt")), requestCert: true, rejectUnauthorized: true },
      (req, res) => {
        seen.cn = (req.socket as TLSSocket).getPeerCertificate().subject.CN as string;
        res.end("ok");
      },
    );
    await new Promise<void>((r) => api.listen(0, "127.0.0.1", r));
    try {
      const port = (api.address() as { port: number }).port;
      const { stdout } = await run("kubectl", ["--kubeconfig", join(dir, "scheduler.conf"), "--server", `https://127.0.0.1:${port}`, "--tls-server-name", "kubernetes", "get", "--raw", "/healthz"]);
      expect(stdout.trim()).toBe("ok");
      expect(seen.cn).toBe("system:kube-scheduler");
    } finally {
      api.close();
    }
  });
});

describe("HTTP and readiness", () => {
  it("/healthz, /readyz and /metrics, in-process and over a real socket", async () => {
    const dir = join(lab.dir, "etcd3");
    const cfg = await hostConfig(lab, "etcd3", dir, [certOutput(inv, "etcd3", "etcd-peer", join(dir, "pki"))], { secretId: true });
    const agent = new Agent(cfg, { log: memoryLogger().log });
    const app = agentApp(agent, agent.metrics.registry);
    expect((await app.request("/readyz")).status).toBe(503);
    expect(await (await app.request("/readyz")).text()).toMatch(/not ready: host-identity, etcd-peer/);
    await agent.pass();
    expect((await app.request("/healthz")).status).toBe(200);
    expect((await app.request("/readyz")).status).toBe(200);
    const http = await listenHttp(app, "127.0.0.1:0");
    try {
      const text = await (await fetch(`http://127.0.0.1:${http.port}/metrics`)).text();
      expect(text).toMatch(/^hak_agent_certificate_expiration_timestamp_seconds\{output="etcd-peer"\} \d+/m);
      expect(text).toMatch(/^hak_agent_certificate_renewal_timestamp_seconds\{output="etcd-peer"\} \d+/m);
      expect(text).toMatch(/^hak_agent_output_ready_status\{output="etcd-peer",condition="True"\} 1/m);
      expect(text).toMatch(/^hak_agent_vault_requests_total\{operation="sign",status="200"\} 2/m);
      expect(text).toMatch(/^hak_agent_vault_token_expiration_timestamp_seconds \d+/m);
    } finally {
      await http.close();
      await agent.session.close();
    }
  });
});

describe("CLI and systemd", () => {
  it("hak-agent once: one pass, exit 0 when every output is ready; check then reports them valid", async () => {
    const dir = join(lab.dir, "etcd2-once");
    const cfg = await hostConfig(lab, "etcd2", dir, [certOutput(inv, "etcd2", "etcd-server", join(dir, "pki"))], { secretId: true });
    const file = join(dir, "agent.json");
    writeFileSync(file, JSON.stringify({ ...cfg, renewal: undefined, outputs: cfg.outputs.map((o) => ({ ...o, mode: "0600" })) }));
    const out: string[] = [];
    const origOut = process.stdout.write.bind(process.stdout);
    const origErr = process.stderr.write.bind(process.stderr);
    process.stdout.write = ((s: string) => (out.push(String(s)), true)) as typeof process.stdout.write;
    process.stderr.write = (() => true) as typeof process.stderr.write;
    let once: number;
    let check: number;
    try {
      once = await main(["once", file]);
      check = await main(["check", file, "--json"]);
    } finally {
      process.stdout.write = origOut;
      process.stderr.write = origErr;
    }
    expect(once).toBe(0);
    expect(check).toBe(0);
    const report = JSON.parse(out.join("")) as { outputs: { name: string; health: string; serial: string }[] };
    expect(report.outputs.map((o) => [o.name, o.health])).toEqual([
      ["host-identity", "valid"],
      ["etcd-server", "valid"],
    ]);
    expect(report.outputs[1]!.serial).toBe(serialOf(join(dir, "pki", "etcd-server.crt")));
  });

  it("hak-agent run: serves HTTP and sends READY=1 to $NOTIFY_SOCKET once every output is ready", async () => {
    const dir = join(lab.dir, "etcd2-run");
    const cfg = await hostConfig(lab, "etcd2", dir, [certOutput(inv, "etcd2", "etcd-peer", join(dir, "pki"))], { secretId: true });
    const sock = join(dir, "notify.sock");
    // A unix datagram receiver standing in for PID 1 (Node cannot open one).
    const receiver = execFile("python3", [
      "-c",
      "import socket,sys\ns=socket.socket(socket.AF_UNIX,socket.SOCK_DGRAM)\ns.bind(sys.argv[1])\nprint('bound',flush=True)\nprint(s.recv(4096).decode(),flush=True)",
      sock,
    ]);
    let received = "";
    receiver.stdout!.on("data", (d: Buffer) => (received += d.toString()));
    while (!received.includes("bound")) await new Promise((r) => setTimeout(r, 20));
    const { runAgent } = await import("../../src/agent/cli.js");
    const ac = new AbortController();
    const prev = process.env.NOTIFY_SOCKET;
    process.env.NOTIFY_SOCKET = sock;
    const port = 20000 + Math.floor(Math.random() * 20000);
    const running = runAgent({ ...cfg, listen: `127.0.0.1:${port}` }, memoryLogger().log, ac.signal);
    try {
      const deadline = Date.now() + 20_000;
      while (!received.includes("READY=1") && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      expect(received).toMatch(/READY=1/);
      const ready = await fetch(`http://127.0.0.1:${port}/readyz`);
      expect(ready.status).toBe(200);
    } finally {
      ac.abort();
      await running;
      receiver.kill();
      if (prev === undefined) delete process.env.NOTIFY_SOCKET;
      else process.env.NOTIFY_SOCKET = prev;
    }
  });
});

describe("token lifecycle and several Vault addresses", () => {
  it("moves on from an address that does not answer; renews its token at 2/3 of its TTL; logs in again after a revocation", async () => {
    const dir = join(lab.dir, "etcd2-token");
    const good = await hostConfig(lab, "etcd2", dir, [certOutput(inv, "etcd2", "etcd-peer", join(dir, "pki"))], { secretId: true });
    const deadPort = await freePort(); // nothing listens there
    const cfg = { ...good, vault: { ...good.vault, addresses: [`https://127.0.0.1:${deadPort}`, lab.bao.address] } };
    let offset = 0;
    const agent = new Agent(cfg, { log: memoryLogger().log, now: () => Date.now() + offset });
    try {
      expect((await agent.pass()).sort()).toEqual(["etcd-peer", "host-identity"]);
      expect(await metric(agent, "hak_agent_vault_request_failures_total", 'operation="login"')).toBeGreaterThanOrEqual(1);
      const firstExpiry = agent.session.tokenExpiresAt;

      // 41 minutes on (host tokens live 1 h): the token is renewed, not replaced.
      offset = 41 * 60_000;
      await agent.session.renewIfDue();
      expect(await metric(agent, "hak_agent_vault_requests_total", 'operation="token_renew",status="200"')).toBe(1);
      expect(agent.session.tokenExpiresAt).toBeGreaterThan(firstExpiry);
      offset = 0;

      // An operator revokes every token from AppRole logins: the next request is refused, the agent logs in again (cert auth).
      await lab.root.write("sys/leases/revoke-prefix/auth/approle/login", {});
      const before = await metric(agent, "hak_agent_vault_logins_total", 'method="cert",result="success"');
      await agent.session.use((c) => c.read("auth/token/lookup-self"));
      expect(await metric(agent, "hak_agent_vault_logins_total", 'method="cert",result="success"')).toBe(before + 1);
    } finally {
      await agent.session.close();
    }
  });
});

describe("hak-agent run as a process", () => {
  it("logs JSON lines to stderr without key material or secret ID, stops on SIGTERM with status 0", async () => {
    const dir = join(lab.dir, "etcd3-proc");
    const cfg = await hostConfig(lab, "etcd3", dir, [certOutput(inv, "etcd3", "etcd-server", join(dir, "pki"))], { secretId: true });
    const secretId = readFileSync(cfg.auth.secretIdFile, "utf8").trim();
    const file = join(dir, "agent.json");
    writeFileSync(file, JSON.stringify({ ...cfg, renewal: undefined, outputs: cfg.outputs.map((o) => ({ ...o, mode: "0600" })) }));
    const { spawn } = await import("node:child_process");
    const p = spawn(
      process.execPath,
      ["--import", "tsx", "-e", `import { main } from "./src/agent/cli.ts"; main(["run", ${JSON.stringify(file)}]).then((c) => process.exit(c));`],
      { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, HAK_LOG_LEVEL: "debug" } },
    );
    let stderr = "";
    p.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
    const deadline = Date.now() + 30_000;
    while (!stderr.includes("all outputs ready") && Date.now() < deadline && p.exitCode === null) await new Promise((r) => setTimeout(r, 100));
    p.kill("SIGTERM");
    const code = await new Promise<number | null>((r) => p.once("exit", (c) => r(c)));
    expect(code).toBe(0);
    const lines = stderr.trim().split("\n").map((l) => JSON.parse(l) as { msg: string; level: number });
    expect(lines.map((l) => l.msg)).toEqual(expect.arrayContaining(["logged in to Vault", "secret ID used and removed", "certificate written", "all outputs ready", "stopping"]));
    const keyBody = readFileSync(join(dir, "pki", "etcd-server.key"), "utf8").split("\n")[1]!;
    expect(stderr).not.toContain(keyBody);
    expect(stderr).not.toContain(secretId);
    expect(stderr).not.toMatch(/PRIVATE KEY|client_token|hvs\.|s\.[A-Za-z0-9]{20}/);
  });
});
