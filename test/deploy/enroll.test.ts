import { execFileSync, spawn } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { LocalBao } from "../../src/common/localbao.js";
import { approleRoleId } from "../../src/common/names.js";
import { VaultClient, VaultError } from "../../src/common/vault.js";
import { enrollHosts, type EnrollOptions } from "../../src/deploy/enroll.js";
import { KnownHosts, sshSettingsFrom, type SshSettings } from "../../src/deploy/ssh.js";
import { bootstrap } from "../../src/pki/bootstrap.js";
import { signProfile } from "../../src/pki/issue.js";
import { devBao } from "../helpers/bao.js";
import { pino } from "pino";
import { Agent } from "../../src/agent/agent.js";
import { parseAgentConfig } from "../../src/agent/config.js";
import { agentApp, listenHttp } from "../../src/agent/http.js";
import { runCli } from "./helpers/cli.js";
import { loopbackInventory, startSshHosts, type SshHosts } from "./helpers/cluster.js";
import { makeKey } from "./helpers/sshd.js";

// Three hosts: etcd1 and cp1 have a real sshd (each in its own mount
// namespace, so each has its own agent state folder); worker1's address has
// nothing listening.
const inv = loopbackInventory("enrolltest", "127.0.42", [
  { name: "etcd1", role: "etcd", last: 11 },
  { name: "cp1", role: "controlplane", last: 21 },
  { name: "worker1", role: "worker", last: 31 },
]);
const host = (n: string) => inv.hosts.find((h) => h.name === n)!;

let bao: LocalBao;
let root: VaultClient;
let dir: string;
let hosts: SshHosts;
let sshds: SshHosts["sshds"];
let settings: SshSettings;
let port: number;
let agentDir: string;

function options(extra: Partial<EnrollOptions> = {}): EnrollOptions {
  return {
    ssh: settings,
    knownHosts: new KnownHosts(settings.knownHostsFile),
    secretIdPath: join(agentDir, "hak-agent", "secret-id"),
    parallel: 2,
    ...extra,
  };
}

async function login(address: string, hostName: string, secretId: string): Promise<string> {
  const c = new VaultClient({ addresses: [bao.address], localAddress: address });
  try {
    const res = await c.write("auth/approle/login", { role_id: approleRoleId(inv.name, hostName), secret_id: secretId }, { token: null });
    return res!.auth!.client_token;
  } finally {
    await c.close();
  }
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "hak-enroll-"));
  agentDir = join(dir, "var-lib");
  bao = await devBao();
  root = bao.client();
  await bootstrap(root, inv);
  hosts = await startSshHosts(dir, [host("etcd1"), host("cp1")], { privateDir: agentDir });
  ({ sshds, settings, port } = hosts);
  process.env.VAULT_ADDR = bao.address;
  process.env.VAULT_TOKEN = bao.rootToken;
});

afterAll(async () => {
  await hosts?.stop();
  await root?.close();
  await bao?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe("hak-deploy enroll against real sshd and OpenBao", () => {
  it("writes each reachable host's secret ID 0600 root-owned, and reports the unreachable one without stopping the others", async () => {
    const progress: string[] = [];
    const results = await enrollHosts(root, inv.hosts, options({ onProgress: (h, m) => progress.push(`${h}: ${m}`) }));
    expect(results.map((r) => [r.host, r.ok])).toEqual([
      ["etcd1", true],
      ["cp1", true],
      ["worker1", false],
    ]);
    expect(results[2]!.error).toMatch(/worker1 \(root@127\.0\.42\.31:\d+\): connection refused/);
    const path = join(agentDir, "hak-agent", "secret-id");
    const seen = new Set<string>();
    for (const n of ["etcd1", "cp1"]) {
      const onHost = sshds[n]!.hostPath(path);
      const st = statSync(onHost);
      expect(st.mode & 0o777).toBe(0o600);
      expect([st.uid, st.gid]).toEqual([0, 0]);
      expect(statSync(sshds[n]!.hostPath(join(agentDir, "hak-agent"))).mode & 0o777).toBe(0o700);
      const secret = readFileSync(onHost, "utf8");
      expect(secret).toMatch(/^[0-9a-f-]{36}$/);
      seen.add(secret);
      expect(results.find((r) => r.host === n)!.file).toBe("600 root:root");
    }
    expect(seen.size).toBe(2);
    // The secret never shows in progress or results.
    for (const secret of seen) {
      expect(progress.join("\n")).not.toContain(secret);
      expect(JSON.stringify(results)).not.toContain(secret);
    }
    // No temp file is left behind.
    expect(readdirSync(sshds.etcd1!.hostPath(join(agentDir, "hak-agent")))).toEqual(["secret-id"]);
    expect(progress.some((p) => p.startsWith("worker1: FAILED"))).toBe(true);
    expect(progress).toContain("etcd1: host key verified; minting a secret ID");
  });

  it("the pushed secret ID logs in once, from the host's address only, and never twice", async () => {
    const secret = readFileSync(sshds.cp1!.hostPath(join(agentDir, "hak-agent", "secret-id")), "utf8");
    // From another address (a copy taken elsewhere): refused by the CIDR binding.
    await expect(login("127.0.42.99", "cp1", secret)).rejects.toBeInstanceOf(VaultError);
    const token = await login(host("cp1").address, "cp1", secret);
    // The token is bound to the host's address too.
    const fromHost = new VaultClient({ addresses: [bao.address], localAddress: host("cp1").address, token });
    const self = await fromHost.read<{ policies: string[]; meta: Record<string, string> | null }>("auth/token/lookup-self");
    expect(self?.policies).toContain("hak-controlplane");
    await fromHost.close();
    const elsewhere = new VaultClient({ addresses: [bao.address], localAddress: "127.0.42.98", token });
    await expect(elsewhere.read("auth/token/lookup-self")).rejects.toMatchObject({ status: 403 });
    await elsewhere.close();
    await expect(login(host("cp1").address, "cp1", secret)).rejects.toMatchObject({ status: 400 });
  });

  it("enrolling again leaves one usable secret ID per host: the earlier unused one is destroyed", async () => {
    const path = join(agentDir, "hak-agent", "secret-id");
    const before = readFileSync(sshds.etcd1!.hostPath(path), "utf8");
    const [res] = await enrollHosts(root, [host("etcd1")], options());
    expect(res).toMatchObject({ ok: true, destroyedEarlier: 1 });
    const after = readFileSync(sshds.etcd1!.hostPath(path), "utf8");
    expect(after).not.toBe(before);
    await expect(login(host("etcd1").address, "etcd1", before)).rejects.toMatchObject({ status: 400 });
    const accessors = await root.list("auth/approle/role/etcd1/secret-id");
    expect(accessors).toEqual([res!.accessor]);
    expect(await login(host("etcd1").address, "etcd1", after)).toMatch(/./);
  });

  it("refuses a changed host key with the exact ssh-keygen -R fix, and mints nothing", async () => {
    const other = makeKey(dir, "recreated").publicKey.split(/\s+/).slice(0, 2).join(" ");
    const stale = join(dir, "known_hosts_stale");
    writeFileSync(stale, `[${host("etcd1").address}]:${port} ${other}\n`);
    const before = await root.list("auth/approle/role/etcd1/secret-id");
    const [res] = await enrollHosts(root, [host("etcd1")], { ...options(), knownHosts: new KnownHosts(stale), ssh: { ...settings, knownHostsFile: stale } });
    expect(res!.ok).toBe(false);
    expect(res!.error).toContain("HOST KEY CHANGED");
    expect(res!.error).toContain(`ssh-keygen -R '[127.0.42.11]:${port}' -f ${stale}`);
    expect(await root.list("auth/approle/role/etcd1/secret-id")).toEqual(before);
  });

  it("refuses an unknown host unless --accept-new, which records its key", async () => {
    const empty = join(dir, "known_hosts_empty");
    writeFileSync(empty, "");
    const refused = await enrollHosts(root, [host("cp1")], { ...options(), knownHosts: new KnownHosts(empty), ssh: { ...settings, knownHostsFile: empty } });
    expect(refused[0]!.error).toMatch(/unknown host: .* has no key for \[127\.0\.42\.21\]:\d+/);
    expect(refused[0]!.error).toContain("--accept-new");
    const accepted = await enrollHosts(root, [host("cp1")], {
      ...options(),
      knownHosts: new KnownHosts(empty),
      ssh: { ...settings, knownHostsFile: empty, acceptNew: true },
    });
    expect(accepted[0]!.ok).toBe(true);
    expect(readFileSync(empty, "utf8")).toContain(`[127.0.42.21]:${port} ${sshds.cp1!.hostKeyPub}`);
  });
  it("the CLI prints a per-host summary and exits 1 when any host failed", async () => {
    writeFileSync(join(dir, "inv.json"), JSON.stringify(inv));
    writeFileSync(join(dir, "id"), settings.privateKey!, { mode: 0o600 });
    const { code, out: text } = await runCli([
      "enroll", "-i", join(dir, "inv.json"), "--ssh-key", join(dir, "id"), "--ssh-port", String(port), "--known-hosts", settings.knownHostsFile,
      "--secret-id-path", join(agentDir, "hak-agent", "secret-id"), "--secret-id-ttl", "10m", "--parallel", "3",
    ]);
    expect(code).toBe(1);
    expect(text).toMatch(/^HOST\s+ADDRESS\s+RESULT\s+DETAIL/);
    expect(text).toMatch(/etcd1\s+127\.0\.42\.11\s+enrolled\s+600 root:root, usable once until/);
    expect(text).toMatch(/worker1\s+127\.0\.42\.31\s+FAILED\s+worker1 \(root@127\.0\.42\.31:\d+\): connection refused/);
    expect(text).toContain("2 enrolled, 0 skipped, 1 failed");
    // --secret-id-ttl made the secret IDs shorter-lived than the role's hour.
    const [accessor] = await root.list("auth/approle/role/cp1/secret-id");
    const look = await root.write<{ expiration_time: string }>("auth/approle/role/cp1/secret-id-accessor/lookup", { secret_id_accessor: accessor });
    const left = new Date(look!.data!.expiration_time).getTime() - Date.now();
    expect(left).toBeGreaterThan(0);
    expect(left).toBeLessThanOrEqual(600_000);
  });
  it("mints nothing for a host whose agent already holds a valid host identity, unless --force", async () => {
    const identity = await signProfile(root, inv, { profile: "host-identity", host: "worker1" });
    const mine = await signProfile(root, inv, { profile: "host-identity", host: "cp1" });
    const certPath = join(agentDir, "hak-agent", "certs", "host-identity.crt");
    mkdirSync(sshds.cp1!.hostPath(join(agentDir, "hak-agent", "certs")), { recursive: true });
    // Another host's identity does not count.
    writeFileSync(sshds.cp1!.hostPath(certPath), identity.certPem);
    const before = await root.list("auth/approle/role/cp1/secret-id");
    const [other] = await enrollHosts(root, [host("cp1")], options({ identityCertPath: certPath }));
    expect(other!.ok).toBe(true);
    expect(other!.identityValidUntil).toBeUndefined();
    expect(other!.accessor).toBeDefined();
    writeFileSync(sshds.cp1!.hostPath(certPath), mine.certPem);
    const [skipped] = await enrollHosts(root, [host("cp1")], options({ identityCertPath: certPath }));
    expect(skipped).toMatchObject({ ok: true, identityValidUntil: mine.expiration.toISOString() });
    expect(skipped!.accessor).toBeUndefined();
    expect(await root.list("auth/approle/role/cp1/secret-id")).toEqual([other!.accessor]);
    const [forced] = await enrollHosts(root, [host("cp1")], options({ identityCertPath: certPath, force: true }));
    expect(forced!.accessor).toBeDefined();
    expect(before).not.toContain(forced!.accessor);
  });
  it("mints nothing for a host without a valid identity whose agent still holds a Vault token; enrolls once the agent cannot tell", async () => {
    // A real agent for cp1, logged in with AppRole from cp1's address, serving /status on loopback.
    const adir = join(dir, "cp1-agent");
    mkdirSync(adir, { recursive: true });
    const sid = await root.write<{ secret_id: string }>("auth/approle/role/cp1/secret-id", {});
    writeFileSync(join(adir, "secret-id"), `${sid!.data!.secret_id}\n`, { mode: 0o600 });
    const cfg = parseAgentConfig({
      host: "cp1",
      vault: { addresses: [bao.address], sourceAddress: host("cp1").address },
      auth: { roleId: approleRoleId(inv.name, "cp1"), secretIdFile: join(adir, "secret-id") },
      outputs: [{ type: "certificate", name: "host-identity", profile: "host-identity", commonName: "cp1", certFile: join(adir, "id.crt"), keyFile: join(adir, "id.key") }],
    });
    const agent = new Agent(cfg, { log: pino({ level: "silent" }) });
    await agent.pass();
    expect(agent.login()?.method).toBe("approle");
    const http = await listenHttp(agentApp(agent, agent.metrics.registry), "127.0.0.1:0");
    const certPath = join(agentDir, "hak-agent", "certs", "host-identity.crt");
    try {
      // The identity the enrollment looks at is not valid (another host's), as after an outage that outlived it.
      writeFileSync(sshds.cp1!.hostPath(certPath), (await signProfile(root, inv, { profile: "host-identity", host: "worker1" })).certPem);
      const statusUrl = `http://127.0.0.1:${http.port}/status`;
      const before = await root.list("auth/approle/role/cp1/secret-id");
      const [skipped] = await enrollHosts(root, [host("cp1")], options({ identityCertPath: certPath, agentStatusUrl: statusUrl }));
      expect(skipped).toMatchObject({ ok: true, agentTokenValidUntil: agent.login()!.tokenExpiresAt });
      expect(skipped!.accessor).toBeUndefined();
      expect(await root.list("auth/approle/role/cp1/secret-id")).toEqual(before);
      await http.close();
      const [enrolled] = await enrollHosts(root, [host("cp1")], options({ identityCertPath: certPath, agentStatusUrl: statusUrl }));
      expect(enrolled!.agentTokenValidUntil).toBeUndefined();
      expect(enrolled!.accessor).toBeDefined();
    } finally {
      await http.close().catch(() => undefined);
      await agent.session.close();
    }
  });
  it("works with a hashed known_hosts (ssh-keygen -H) and with the key in ssh-agent", async () => {
    const hashed = join(dir, "known_hosts_hashed");
    copyFileSync(settings.knownHostsFile, hashed);
    execFileSync("ssh-keygen", ["-q", "-H", "-f", hashed], { stdio: "ignore" });
    expect(readFileSync(hashed, "utf8")).not.toContain("127.0.42.");
    const sock = join(dir, "agent.sock");
    const agent = spawn("ssh-agent", ["-D", "-a", sock], { stdio: "ignore" });
    try {
      for (let i = 0; i < 50 && !existsSync(sock); i++) await new Promise((r) => setTimeout(r, 20));
      writeFileSync(join(dir, "agent-key"), settings.privateKey!, { mode: 0o600 });
      execFileSync("ssh-add", ["-q", join(dir, "agent-key")], { env: { ...process.env, SSH_AUTH_SOCK: sock }, stdio: "ignore" });
      const ssh = sshSettingsFrom({ sshPort: String(port), knownHosts: hashed, sshUser: "root" }, { HOME: dir, SSH_AUTH_SOCK: sock });
      expect(ssh.privateKey).toBeUndefined();
      const [res] = await enrollHosts(root, [host("etcd1")], { ...options(), ssh, knownHosts: new KnownHosts(hashed), force: true });
      expect(res).toMatchObject({ ok: true, file: "600 root:root" });
    } finally {
      agent.kill();
    }
  });
  it("destroys a secret ID that could not be written on the host, and says why", async () => {
    const before = await root.list("auth/approle/role/etcd1/secret-id");
    // /proc refuses new folders: the write script fails on the host.
    const [res] = await enrollHosts(root, [host("etcd1")], options({ secretIdPath: "/proc/hak-no-such-dir/secret-id", force: true }));
    expect(res!.ok).toBe(false);
    expect(res!.error).toMatch(/^etcd1: writing \/proc\/hak-no-such-dir\/secret-id failed \(exit 1\): mkdir: cannot create directory/);
    expect(await root.list("auth/approle/role/etcd1/secret-id")).toEqual(before);
  });
});
