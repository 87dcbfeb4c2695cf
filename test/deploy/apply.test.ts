import { appendFileSync, chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { VaultClient } from "../../src/common/vault.js";
import { applyCluster, type ApplyOptions } from "../../src/deploy/apply.js";
import { writeHive } from "../../src/deploy/hive.js";
import { KnownHosts } from "../../src/deploy/ssh.js";
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

// The hive's host plans need the hosts' Vault address (never dialled here: the test's Vault is reached through the CLI flags).
const inv = {
  ...loopbackInventory("applytest", "127.0.43", [
    { name: "etcd1", role: "etcd", last: 11 },
    { name: "cp1", role: "controlplane", last: 21 },
    { name: "worker1", role: "worker", last: 31 },
    { name: "lb1", role: "loadbalancer", last: 41 },
  ]),
  vault: { addresses: ["https://127.0.43.5:8200"] },
};

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

  it("stops before Colmena when a role's enrollment fails (here: host keys not known)", async () => {
    writeFileSync(log, "");
    const empty = join(dir, "known_hosts_empty");
    writeFileSync(empty, "");
    const o = options();
    const report = await applyCluster(root, inv, { ...o, bootstrap: false, enroll: { ...o.enroll!, knownHosts: new KnownHosts(empty) } });
    expect(report).toMatchObject({ ok: false, failedRole: "etcd", skipped: ["controlplane", "loadbalancer", "worker"] });
    expect(report.steps[0]!.enrollment![0]!.error).toMatch(/unknown host/);
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
    await expect(applyCluster(root, inv, options({ colmena: join(dir, "no-such-colmena"), bootstrap: false, enroll: undefined }))).rejects.toMatchObject({
      message: `${join(dir, "no-such-colmena")}: not found`,
      where: "--colmena",
      fix: expect.stringContaining("nix develop"),
    });
  });
});
