import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { LocalBao } from "../../src/common/localbao.js";
import { approleRoleId } from "../../src/common/names.js";
import { VaultClient, VaultError } from "../../src/common/vault.js";
import { enrollHosts, type EnrollOptions } from "../../src/deploy/enroll.js";
import { KnownHosts, type SshSettings } from "../../src/deploy/ssh.js";
import { bootstrap } from "../../src/pki/bootstrap.js";
import { devBao } from "../helpers/bao.js";
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
    // No temp file is left behind.
    expect(readFileSync(sshds.etcd1!.hostPath(path), "utf8")).not.toBe("");
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
});
