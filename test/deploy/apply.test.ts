import { appendFileSync, chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { VaultClient } from "../../src/common/vault.js";
import { createServer as createHttpsServer } from "node:https";
import { generateKeyPair, x509 } from "../../src/common/x509.js";
import { applyCluster, type ApplyOptions } from "../../src/deploy/apply.js";
import { DEFAULT_HOST_PATHS } from "../../src/deploy/check.js";
import { writeHive } from "../../src/deploy/hive.js";
import { KnownHosts } from "../../src/deploy/ssh.js";
import { freePort } from "../../src/common/localbao.js";
import { realBao } from "../helpers/bao.js";
import { runCli } from "./helpers/cli.js";
import { loopbackInventory, startSshHosts, type SshHosts } from "./helpers/cluster.js";

// Colmena and NixOS cannot run here. COLMENA STAND-IN: a shell script named
// `colmena`, first on PATH, that only records its working folder and argv in
// a log and exits 1 when its argv names the role (@role) or the host in
// COLMENA_STANDIN_FAIL. It checks the command lines and their order, nothing
// Colmena itself does.
const STANDIN = `#!/bin/sh
[ "$1" = --version ] && { echo "colmena \${COLMENA_STANDIN_VERSION:-0.4.0}"; exit 0; }
printf 'colmena %s | cwd=%s\\n' "$*" "$PWD" >> "$COLMENA_STANDIN_LOG"
echo "colmena stand-in output for: $*"
case " $* " in *" @$COLMENA_STANDIN_FAIL "*|*" $COLMENA_STANDIN_FAIL "*) echo "stand-in: failing as asked" >&2; exit 1;; esac
exit 0
`;

// The hive's host plans need the hosts' Vault address (never dialled here: the test's Vault is reached through the CLI flags).
const inv = {
  ...loopbackInventory("applytest", "127.0.43", [
    { name: "etcd1", role: "etcd", last: 11 },
    { name: "cp1", role: "controlplane", last: 21 },
    { name: "cp2", role: "controlplane", last: 22 },
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
    expect(report.steps.map((st) => st.colmena.map((c) => c.argv.join(" ")).join("; "))).toEqual([
      inv.hosts.filter((h) => h.role === "etcd").map((h) => `apply --on ${h.name}`).join("; "),
      inv.hosts.filter((h) => h.role === "controlplane").map((h) => `apply --on ${h.name}`).join("; "),
      "apply --on @loadbalancer",
      "apply --on @worker",
    ]);
    expect(logLines().filter((l) => l.startsWith("colmena "))).toEqual([]);
    expect(Object.keys((await root.readBare<Record<string, unknown>>("sys/mounts")) ?? {}).some((m) => m.startsWith("pki-"))).toBe(false);
    for (const h of inv.hosts) expect(existsSync(hosts.onHost(h.name, join(agentDir, "secret-id")))).toBe(false);
  });

  it("bootstraps Vault, then enrolls and applies role by role, and stops at the first failing role", async () => {
    writeFileSync(log, "");
    process.env.COLMENA_STANDIN_FAIL = "cp1";
    const report = await applyCluster(root, inv, options());
    expect(report.ok).toBe(false);
    expect(report.failedRole).toBe("controlplane");
    expect(report.skipped).toEqual(["loadbalancer", "worker"]);
    expect(report.bootstrap?.create).toBeGreaterThan(0);
    const lines = logLines().filter((l) => l.startsWith("colmena ") || l.includes("enrolling"));
    expect(lines).toEqual([
      "hak [1/4] etcd: enrolling etcd1",
      `colmena apply --on etcd1 | cwd=${flakeDir}`,
      "hak [2/4] controlplane: enrolling cp1, cp2",
      // One host at a time: cp1 failed, so cp2 was never touched.
      `colmena apply --on cp1 | cwd=${flakeDir}`,
    ]);
    // Hosts of the roles never reached got no secret ID, on disk or in Vault.
    for (const n of ["etcd1", "cp1", "cp2"]) expect(existsSync(hosts.onHost(n, join(agentDir, "secret-id")))).toBe(true);
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
      "--secret-id-path", join(agentDir, "secret-id"), "--colmena-arg", "--impure", "--no-gate", "--json",
    ]);
    const report = JSON.parse(out) as { ok: boolean; bootstrap: { create: number; update: number; delete: number }; steps: { role: string; ok: boolean }[] };
    expect(code).toBe(0);
    expect(report.ok).toBe(true);
    expect(report.bootstrap.create + report.bootstrap.update + report.bootstrap.delete).toBe(0);
    expect(report.steps.map((s) => s.role)).toEqual(["etcd", "controlplane", "loadbalancer", "worker"]);
    expect(logLines().filter((l) => l.startsWith("colmena "))).toEqual(
      ["etcd1", "cp1", "cp2", "@loadbalancer", "@worker"].map((on) => `colmena apply --on ${on} --impure | cwd=${flakeDir}`),
    );
    for (const n of ["lb1", "worker1"]) expect(await root.list(`auth/approle/role/${n}/secret-id`)).toHaveLength(1);
  });

  it("passes --no-cel on to the reconciler (the roles change from CEL to classic)", async () => {
    const { code, out } = await runCli(["apply", "-i", join(dir, "inventory.json"), "--dir", flakeDir, "--no-enroll", "--no-cel", "--no-gate", "--json"]);
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

/**
 * The health gate between hosts. The apiservers are STAND-INS: small HTTPS
 * servers on the control-plane hosts' addresses answering /readyz (200 or
 * 500, or not listening), with a certificate for both addresses that the
 * gate's curl (run over real SSH on the host, as on NixOS) verifies as the
 * kubernetes CA. etcd is the real etcdctl against no running member: the
 * gate must fail.
 */
describe("hak-deploy apply: one host at a time with a health gate", () => {
  let gateInv: typeof inv;
  let gateFlake: string;
  let certDir: string;
  const servers: Record<string, { ready: boolean; close(): Promise<void> }> = {};

  async function standInApiserver(address: string, port: number, tls: { key: string; cert: string }) {
    const state = { ready: true };
    const server = createHttpsServer(tls, (req, res) => {
      res.writeHead(req.url === "/readyz" && state.ready ? 200 : 500).end(state.ready ? "ok" : "not ready");
    });
    await new Promise<void>((r) => server.listen(port, address, r));
    return Object.assign(state, { close: () => new Promise<void>((r) => server.close(() => r())) });
  }

  beforeAll(async () => {
    gateInv = { ...inv, apiPort: await freePort() };
    gateFlake = join(dir, "gate-flake");
    writeHive(gateFlake, gateInv);
    certDir = join(dir, "gate-certs");
    mkdirSync(certDir);
    const kp = await generateKeyPair("ec");
    const cps = gateInv.hosts.filter((h) => h.role === "controlplane");
    const cert = await x509.X509CertificateGenerator.createSelfSigned({
      serialNumber: "01",
      name: "CN=stand-in apiserver",
      notBefore: new Date(Date.now() - 60_000),
      notAfter: new Date(Date.now() + 3600_000),
      keys: kp.keys,
      signingAlgorithm: kp.algorithm,
      extensions: [new x509.SubjectAlternativeNameExtension(cps.map((h) => ({ type: "ip" as const, value: h.address })))],
    });
    const pem = cert.toString("pem");
    writeFileSync(join(certDir, "kubernetes-ca.crt"), pem);
    for (const h of cps) servers[h.name] = await standInApiserver(h.address, gateInv.apiPort, { key: kp.privateKeyPem, cert: pem });
  });
  afterAll(async () => {
    for (const s of Object.values(servers)) await s.close();
  });

  function gated(extra: Partial<ApplyOptions> = {}): ApplyOptions {
    return options({
      flakeDir: gateFlake,
      bootstrap: false,
      enroll: undefined,
      gate: { ssh: hosts.settings, knownHosts: new KnownHosts(hosts.knownHostsFile), paths: { ...DEFAULT_HOST_PATHS, certDir }, timeoutMs: 1500, intervalMs: 250 },
      ...extra,
    });
  }
  const colmenaLines = () => logLines().filter((l) => l.startsWith("colmena ")).map((l) => l.replace(/ \| cwd=.*/, ""));

  it("rolls the control plane host by host while each apiserver passes /readyz", async () => {
    writeFileSync(log, "");
    delete process.env.COLMENA_STANDIN_FAIL;
    servers.cp1!.ready = servers.cp2!.ready = true;
    const report = await applyCluster(undefined, gateInv, gated({ hosts: ["cp1", "cp2"] }));
    expect(report.ok).toBe(true);
    expect(colmenaLines()).toEqual(["colmena apply --on cp1", "colmena apply --on cp2"]);
    const runs = report.steps[0]!.colmena;
    expect(runs.map((r) => r.gate?.ok)).toEqual([true, true]);
    expect(runs[0]!.gate!.detail).toContain(`/readyz`);
  });

  it("stops before the next host when one does not come back ready", async () => {
    writeFileSync(log, "");
    servers.cp1!.ready = false;
    servers.cp2!.ready = true;
    const report = await applyCluster(undefined, gateInv, gated({ hosts: ["cp1", "cp2"] }));
    expect(report).toMatchObject({ ok: false, failedRole: "controlplane" });
    // cp2 was healthy, so the role rolls; cp1 fails its gate and cp2 is never touched.
    expect(colmenaLines()).toEqual(["colmena apply --on cp1"]);
    const gate = report.steps[0]!.colmena[0]!.gate!;
    expect(gate.ok).toBe(false);
    expect(gate.attempts).toBeGreaterThan(1);
    expect(gate.detail).toMatch(/500/);
  });

  it("applies a role with no healthy host yet at once, then gates each host (etcd: real etcdctl, nothing running)", async () => {
    writeFileSync(log, "");
    const report = await applyCluster(undefined, gateInv, gated({ hosts: ["etcd1", "worker1"] }));
    expect(report).toMatchObject({ ok: false, failedRole: "etcd", skipped: ["worker"] });
    expect(colmenaLines()).toEqual(["colmena apply --on etcd1"]);
    expect(logLines().some((l) => l.includes("no etcd host passes its gate yet"))).toBe(true);
    expect(report.steps[0]!.colmena[0]!.gate).toMatchObject({ ok: false, detail: expect.stringMatching(/etcdctl gave no status/) });
  });
});

describe("hak-deploy apply: the Colmena release", () => {
  it("refuses a Colmena whose hive schema the flake does not have, before touching anything", async () => {
    writeFileSync(log, "");
    process.env.COLMENA_STANDIN_VERSION = "0.5.0-pre";
    try {
      await expect(applyCluster(root, inv, options({ bootstrap: false, enroll: undefined }))).rejects.toMatchObject({
        message: expect.stringMatching(/colmena 0\.5\.0-pre; this flake's colmenaHive is made by Colmena 0\.4's makeHive/),
        where: "--colmena",
        exitCode: 2,
      });
    } finally {
      delete process.env.COLMENA_STANDIN_VERSION;
    }
    expect(logLines().filter((l) => l.startsWith("colmena "))).toEqual([]);
  });
});
