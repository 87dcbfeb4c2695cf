import { appendFileSync, chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { VaultClient } from "../../src/common/vault.js";
import { applyCluster, type ApplyOptions } from "../../src/deploy/apply.js";
import { writeHive } from "../../src/deploy/hive.js";
import { KnownHosts } from "../../src/deploy/ssh.js";
import { freePort } from "../../src/common/localbao.js";
import { realBao } from "../helpers/bao.js";
import { runCli } from "./helpers/cli.js";
import { loopbackInventory, startSshHosts, type SshHosts } from "./helpers/cluster.js";

// Colmena and NixOS cannot run here. COLMENA STAND-IN: a shell script named
// `colmena`, first on PATH, that only records its working folder and argv in
// a log and exits 1 when its argv names the role in COLMENA_STANDIN_FAIL.
// It checks the command lines and their order, nothing Colmena itself does.
const STANDIN = `#!/bin/sh
printf 'colmena %s | cwd=%s\\n' "$*" "$PWD" >> "$COLMENA_STANDIN_LOG"
echo "colmena stand-in output for: $*"
case " $* " in *" @$COLMENA_STANDIN_FAIL "*) echo "stand-in: failing as asked" >&2; exit 1;; esac
exit 0
`;

const inv = loopbackInventory("applytest", "127.0.43", [
  { name: "etcd1", role: "etcd", last: 11 },
  { name: "cp1", role: "controlplane", last: 21 },
  { name: "worker1", role: "worker", last: 31 },
  { name: "lb1", role: "loadbalancer", last: 41 },
]);

let dir: string;
let flakeDir: string;
let agentDir: string;
let log: string;
// The real server (TLS, raft, init/unseal), so the CLI run goes through VAULT_CACERT.
let bao: Awaited<ReturnType<typeof realBao>>;
let root: VaultClient;
let hosts: SshHosts;
const savedEnv = { ...process.env };

function options(extra: Partial<ApplyOptions> = {}): ApplyOptions {
  return {
    flakeDir,
    colmena: "colmena",
    colmenaArgs: [],
    bootstrap: {},
    enroll: { ssh: hosts.settings, knownHosts: new KnownHosts(hosts.knownHostsFile), secretIdPath: join(agentDir, "secret-id"), parallel: 4 },
    colmenaStdout: "stderr",
    // Our progress goes into the stand-in's log too, so the log shows the true interleaving.
    onProgress: (l) => appendFileSync(log, `hak ${l}\n`),
    ...extra,
  };
}

function logLines(): string[] {
  return readFileSync(log, "utf8").trim().split("\n");
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "hak-apply-"));
  flakeDir = join(dir, "flake");
  agentDir = join(dir, "agent");
  const bin = join(dir, "bin");
  mkdirSync(bin);
  writeFileSync(join(bin, "colmena"), STANDIN);
  chmodSync(join(bin, "colmena"), 0o755);
  log = join(dir, "log");
  process.env.PATH = `${bin}:${process.env.PATH}`;
  process.env.COLMENA_STANDIN_LOG = log;
  writeHive(flakeDir, inv);
  bao = await realBao();
  root = bao.client();
  hosts = await startSshHosts(dir, inv.hosts, { privateDir: agentDir });
});

afterAll(async () => {
  process.env = savedEnv;
  await hosts?.stop();
  await root?.close();
  await bao?.cleanup();
  rmSync(dir, { recursive: true, force: true });
});

describe("hak-deploy apply, with a recording colmena stand-in", () => {
  it("preflight: a missing colmena, an unknown host key and a dead Vault are all reported before anything changes", async () => {
    writeFileSync(log, "");
    const empty = join(dir, "known_hosts_none");
    writeFileSync(empty, "");
    const o = options();
    const dead = root.withAddresses([`https://127.0.0.1:${await freePort()}`]);
    const err = await applyCluster(dead, inv, { ...o, colmena: join(dir, "no-such-colmena"), enroll: { ...o.enroll!, knownHosts: new KnownHosts(empty) } }).then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    await dead.close();
    expect(err?.message).toMatch(/^preflight failed, nothing was changed:/);
    expect(err?.message).toContain(`colmena ${join(dir, "no-such-colmena")}: not found (the flake's devShell has it: nix develop`);
    expect(err?.message).toMatch(/vault https:\/\/127\.0\.0\.1:\d+: no answer: ECONNREFUSED/);
    for (const h of inv.hosts) expect(err?.message).toMatch(new RegExp(`ssh ${h.name}: .*unknown host`));
    // Nothing reached Vault (no hak mount yet) and colmena never ran.
    expect(Object.keys((await root.readBare<Record<string, unknown>>("sys/mounts")) ?? {}).some((m) => m.startsWith("pki-"))).toBe(false);
    expect(logLines().filter((l) => l.startsWith("colmena "))).toEqual([]);
  });

  it("--dry-run checks, shows Vault's plan and the colmena runs, and changes nothing", async () => {
    writeFileSync(log, "");
    const report = await applyCluster(root, inv, options({ dryRun: true }));
    expect(report).toMatchObject({ ok: true, dryRun: true });
    expect(report.preflight?.map((c) => `${c.check} ${c.ok}`)).toEqual(["colmena true", "vault true", ...inv.hosts.map(() => "ssh true")]);
    expect(report.bootstrap?.create).toBeGreaterThan(0);
    expect(report.steps.map((st) => st.colmena?.argv.join(" "))).toEqual(["apply --on @etcd", "apply --on @controlplane", "apply --on @loadbalancer", "apply --on @worker"]);
    expect(logLines().filter((l) => l.startsWith("colmena "))).toEqual([]);
    expect(Object.keys((await root.readBare<Record<string, unknown>>("sys/mounts")) ?? {}).some((m) => m.startsWith("pki-"))).toBe(false);
    for (const h of inv.hosts) expect(existsSync(hosts.onHost(h.name, join(agentDir, "secret-id")))).toBe(false);
  });

  it("bootstraps Vault, then enrolls and applies role by role, and stops at the first failing role", async () => {
    writeFileSync(log, "");
    process.env.COLMENA_STANDIN_FAIL = "controlplane";
    const report = await applyCluster(root, inv, options());
    expect(report.ok).toBe(false);
    expect(report.failedRole).toBe("controlplane");
    expect(report.skipped).toEqual(["loadbalancer", "worker"]);
    expect(report.bootstrap?.create).toBeGreaterThan(0);
    const lines = logLines().filter((l) => l.startsWith("colmena ") || l.includes("enrolling"));
    expect(lines).toEqual([
      "hak [1/4] etcd: enrolling etcd1",
      `colmena apply --on @etcd | cwd=${flakeDir}`,
      "hak [2/4] controlplane: enrolling cp1",
      `colmena apply --on @controlplane | cwd=${flakeDir}`,
    ]);
    // Hosts of the roles never reached got no secret ID, on disk or in Vault.
    for (const n of ["etcd1", "cp1"]) expect(existsSync(hosts.onHost(n, join(agentDir, "secret-id")))).toBe(true);
    for (const n of ["lb1", "worker1"]) {
      expect(existsSync(hosts.onHost(n, join(agentDir, "secret-id")))).toBe(false);
      expect(await root.list(`auth/approle/role/${n}/secret-id`)).toEqual([]);
    }
  });

  it("runs every role in the safe order through the CLI, passes extra colmena arguments, and bootstraps nothing the second time", async () => {
    writeFileSync(log, "");
    delete process.env.COLMENA_STANDIN_FAIL;
    writeFileSync(join(dir, "inventory.json"), JSON.stringify(inv));
    Object.assign(process.env, {
      VAULT_ADDR: bao.address,
      VAULT_TOKEN: bao.rootToken,
      VAULT_CACERT: bao.caFile!,
      HAK_SSH_PORT: String(hosts.port),
      HAK_KNOWN_HOSTS: hosts.knownHostsFile,
    });
    writeFileSync(join(dir, "id"), hosts.settings.privateKey!, { mode: 0o600 });
    const { code, out } = await runCli([
      "apply", "-i", join(dir, "inventory.json"), "--dir", flakeDir, "--ssh-key", join(dir, "id"),
      "--secret-id-path", join(agentDir, "secret-id"), "--colmena-arg", "--impure", "--json",
    ]);
    const report = JSON.parse(out) as { ok: boolean; bootstrap: { create: number; update: number; delete: number }; steps: { role: string; ok: boolean }[] };
    expect(code).toBe(0);
    expect(report.ok).toBe(true);
    expect(report.bootstrap.create + report.bootstrap.update + report.bootstrap.delete).toBe(0);
    expect(report.steps.map((s) => s.role)).toEqual(["etcd", "controlplane", "loadbalancer", "worker"]);
    expect(logLines().filter((l) => l.startsWith("colmena "))).toEqual(
      ["etcd", "controlplane", "loadbalancer", "worker"].map((r) => `colmena apply --on @${r} --impure | cwd=${flakeDir}`),
    );
    for (const n of ["lb1", "worker1"]) expect(await root.list(`auth/approle/role/${n}/secret-id`)).toHaveLength(1);
  });

  it("passes --no-cel on to the reconciler (the roles change from CEL to classic)", async () => {
    const { code, out } = await runCli(["apply", "-i", join(dir, "inventory.json"), "--dir", flakeDir, "--no-enroll", "--no-cel", "--json"]);
    expect(code).toBe(0);
    const counts = (JSON.parse(out) as { bootstrap: Record<string, number> }).bootstrap;
    expect((counts.create ?? 0) + (counts.update ?? 0) + (counts.delete ?? 0)).toBeGreaterThan(0);
  });

  it("stops before Colmena and before any secret ID when host keys are not known (the preflight's SSH check)", async () => {
    writeFileSync(log, "");
    const empty = join(dir, "known_hosts_empty");
    writeFileSync(empty, "");
    const o = options();
    const before = await root.list("auth/approle/role/etcd1/secret-id");
    await expect(applyCluster(root, inv, { ...o, bootstrap: false, enroll: { ...o.enroll!, knownHosts: new KnownHosts(empty) } })).rejects.toThrow(/preflight failed[\s\S]*ssh etcd1: .*unknown host/);
    expect(await root.list("auth/approle/role/etcd1/secret-id")).toEqual(before);
    expect(logLines().filter((l) => l.startsWith("colmena "))).toEqual([]);
  });

  it("with host names, applies only those, by name, still in role order", async () => {
    writeFileSync(log, "");
    const report = await applyCluster(root, inv, options({ hosts: ["worker1", "etcd1"], bootstrap: false, enroll: undefined }));
    expect(report.ok).toBe(true);
    expect(logLines().filter((l) => l.startsWith("colmena "))).toEqual([
      `colmena apply --on etcd1 | cwd=${flakeDir}`,
      `colmena apply --on worker1 | cwd=${flakeDir}`,
    ]);
  });

  it("refuses to deploy a hive that does not match the inventory, before touching anything", async () => {
    writeFileSync(log, "");
    const changed = { ...inv, apiPort: 7443 };
    await expect(applyCluster(root, changed, options())).rejects.toThrow(/hive does not match the inventory[\s\S]*"apiPort": 7443/);
    expect(readFileSync(log, "utf8")).toBe("");
  });

  it("says where to get colmena when it is not on PATH", async () => {
    await expect(applyCluster(root, inv, options({ colmena: join(dir, "no-such-colmena"), bootstrap: false, enroll: undefined }))).rejects.toThrow(
      new RegExp(`colmena ${join(dir, "no-such-colmena")}: .*not found .*nix develop`),
    );
  });

  // Last: it seals the server.
  it("preflight: a sealed Vault is named as such, and nothing runs", async () => {
    writeFileSync(log, "");
    await root.request("PUT", "sys/seal");
    await expect(applyCluster(root, inv, options({ enroll: undefined }))).rejects.toThrow(/preflight failed[\s\S]*vault https:\/\/[^:]+:\d+: sealed: unseal it first/);
    expect(logLines().filter((l) => l.startsWith("colmena "))).toEqual([]);
  });
});
