import { resolve } from "node:path";
import { Command, Option } from "commander";
import { addInventoryOption, addVaultOptions, exitWith, inventoryFrom, runProgram, vaultFrom, type InventoryFlags, type VaultFlags } from "../common/cli.js";
import { parseDuration } from "../common/duration.js";
import { InputError, readInputFile } from "../common/errors.js";
import { renderTable } from "../common/table.js";
import { applyCluster, type ApplyOptions, type ApplyReport } from "./apply.js";
import { checkCluster, DEFAULT_HOST_PATHS, renderCheck, type CheckReport } from "./check.js";
import { checkKubernetes } from "./kube-check.js";
import { kubectl } from "./kubectl.js";
import { binaryPath, imageInfo } from "../common/binaries.js";
import { checkHostPath, DEFAULT_AGENT_STATUS_URL, DEFAULT_IDENTITY_CERT_PATH, DEFAULT_SECRET_ID_PATH, enrollHosts, selectHosts, type EnrollOptions, type EnrollResult } from "./enroll.js";
import { checkHive, HIVE_INVENTORY, HIVE_PLANS, renderHiveStates, writeHive } from "./hive.js";
import { findHost, type Inventory } from "../common/inventory.js";
import { haFindings, renderHaFindings } from "./ha-check.js";
import { clusterPlan, hostPlan, manifestsYaml } from "../plan/index.js";
import { renderClusterPlan, renderHostPlan } from "../plan/render.js";
import { KnownHosts, sshSettingsFrom, type SshFlags } from "./ssh.js";

type Flags = VaultFlags & InventoryFlags;
type SshCmdFlags = SshFlags & { parallel: string; json?: boolean };

function print(s: string): void {
  process.stdout.write(s.endsWith("\n") ? s : `${s}\n`);
}

/** The locally built busybox (build/images.json); a real cluster passes --image. */
const DEFAULT_CHECK_IMAGE = (() => {
  try {
    return imageInfo("busybox").ref;
  } catch {
    return "busybox:1.36";
  }
})();

/** kubectl: the built one (.tools/bin), else the one on PATH. */
function kubectlBinary(): string {
  try {
    return binaryPath("kubectl");
  } catch {
    return "kubectl";
  }
}

function progress(host: string, message: string): void {
  process.stderr.write(`[${host}] ${message}\n`);
}

function addSshOptions(cmd: Command): Command {
  return cmd
    .option("--ssh-user <user>", "SSH user on the hosts; non-root users run the host side under sudo -n (env HAK_SSH_USER)")
    .option("--ssh-port <port>", "SSH port (env HAK_SSH_PORT; default 22)")
    .option("--ssh-key <file>", "private key (env HAK_SSH_KEY; passphrase in HAK_SSH_KEY_PASSPHRASE); default: ssh-agent, then ~/.ssh/id_*")
    .option("--known-hosts <file>", "OpenSSH known_hosts to check host keys against (env HAK_KNOWN_HOSTS; default ~/.ssh/known_hosts)")
    .option("--accept-new", "record the key of a host that has no known_hosts entry yet (a changed key is still refused)")
    .option("--connect-timeout <seconds>", "SSH handshake timeout", "15")
    .option("--parallel <n>", "hosts at a time", "8");
}

/** known_hosts, with a warning for each line that ssh would skip too. */
function loadKnownHosts(file: string): KnownHosts {
  const kh = new KnownHosts(file);
  for (const p of kh.problems) process.stderr.write(`warning: ${file}:${p.line}: ${p.message}; line ignored\n`);
  return kh;
}

function parallelFrom(text: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1 || n > 256) throw new InputError(`not a number from 1 to 256: ${JSON.stringify(text)}`, { where: "--parallel" });
  return n;
}

/** The apply health gate: SSH as for enrollment, the agent's certificate folder on the hosts. */
function gateOptionsFrom(o: SshCmdFlags & { gateTimeout: string; certDir: string }): NonNullable<ApplyOptions["gate"]> {
  const seconds = Number(o.gateTimeout);
  if (!Number.isInteger(seconds) || seconds < 1) throw new InputError(`not a whole number of seconds: ${JSON.stringify(o.gateTimeout)}`, { where: "--gate-timeout" });
  const ssh = sshSettingsFrom(o);
  return {
    ssh,
    knownHosts: loadKnownHosts(ssh.knownHostsFile),
    paths: { ...DEFAULT_HOST_PATHS, certDir: checkHostPath(o.certDir, "--cert-dir") },
    timeoutMs: seconds * 1000,
    intervalMs: 5000,
  };
}

type EnrollFlags = SshCmdFlags & { secretIdPath: string; secretIdTtl?: string; identityCert: string; agentStatusUrl?: string; force?: boolean };

function enrollOptionsFrom(o: EnrollFlags): EnrollOptions {
  const ssh = sshSettingsFrom(o);
  let ttl: number | undefined;
  if (o.secretIdTtl !== undefined) {
    ttl = parseDuration(o.secretIdTtl);
    if (ttl === undefined || ttl < 60) throw new InputError(`not a duration of at least 1m: ${JSON.stringify(o.secretIdTtl)}`, { where: "--secret-id-ttl" });
  }
  return {
    ssh,
    knownHosts: loadKnownHosts(ssh.knownHostsFile),
    secretIdPath: checkHostPath(o.secretIdPath),
    secretIdTtlSeconds: ttl,
    identityCertPath: checkHostPath(o.identityCert, "--identity-cert"),
    agentStatusUrl: o.agentStatusUrl,
    force: o.force ?? false,
    parallel: parallelFrom(o.parallel),
    onProgress: progress,
  };
}

function addEnrollOptions(cmd: Command): Command {
  return cmd
    .option("--secret-id-path <path>", "the agent's secret-ID file on the hosts", DEFAULT_SECRET_ID_PATH)
    .option("--secret-id-ttl <duration>", "shorter secret-ID lifetime than the AppRole role's (e.g. 15m)")
    .option("--identity-cert <path>", "the agent's host identity certificate on the hosts; a host with a valid one is not enrolled", DEFAULT_IDENTITY_CERT_PATH)
    .option("--agent-status-url <url>", "the agent's /status as seen on the hosts; a host whose agent holds a Vault token is not enrolled", DEFAULT_AGENT_STATUS_URL)
    .option("--force", "enroll hosts that already hold a valid host identity (or a token) too");
}

export function renderEnroll(results: EnrollResult[]): string {
  const table = renderTable(
    ["HOST", "ADDRESS", "RESULT", "DETAIL"],
    results.map((r) => [r.host, r.address, r.identityValidUntil || r.agentTokenValidUntil ? "skipped" : r.ok ? "enrolled" : "FAILED", enrollDetail(r)]),
  );
  const failed = results.filter((r) => !r.ok).length;
  const skipped = results.filter((r) => r.identityValidUntil || r.agentTokenValidUntil).length;
  return `${table}\n\n${results.length - failed - skipped} enrolled, ${skipped} skipped, ${failed} failed`;
}

function enrollDetail(r: EnrollResult): string {
  if (r.identityValidUntil) return `holds a valid host identity until ${r.identityValidUntil}`;
  if (r.agentTokenValidUntil) return `its agent holds a Vault token until ${r.agentTokenValidUntil} (renews its identity itself)`;
  if (!r.ok) return (r.error ?? "").replace(/\n\s*/g, " ");
  return `${r.file ?? ""}${r.expiresAt ? `, usable once until ${r.expiresAt}` : ""}`;
}

function renderApply(r: ApplyReport): string {
  if (r.dryRun) {
    const b = r.bootstrap;
    return [
      ...(r.preflight ?? []).map((c) => `ok     preflight ${c.check} ${c.target}: ${c.detail}`),
      ...(b ? [`would  vault: ${b.create} to create, ${b.update} to update, ${b.delete} to delete (hak-pki bootstrap --dry-run shows each)`] : []),
      ...r.steps.map((s) => `would  ${s.role.padEnd(12)} ${s.hosts.join(",")}: ${s.colmena.map((c) => `colmena ${c.argv.join(" ")}`).join(", then ")}`),
      "dry run: nothing was changed",
    ].join("\n");
  }
  const lines = r.steps.map((s) => {
    const colmena =
      s.colmena.length > 0
        ? s.colmena
            .map((c) => `colmena ${c.argv.join(" ")} -> ${c.exitCode === 0 ? "ok" : `exit ${c.exitCode ?? c.signal}`}${c.gate ? `, gate ${c.gate.ok ? "passed" : `FAILED (${c.gate.detail})`}` : ""}`)
            .join("; ")
        : "colmena not run";
    const enrolled = s.enrollment ? `enrolled ${s.enrollment.filter((e) => e.ok).length}/${s.enrollment.length}; ` : "";
    return `${s.ok ? "ok    " : "FAILED"} ${s.role.padEnd(12)} ${s.hosts.join(",")}: ${enrolled}${colmena}`;
  });
  for (const s of r.steps) for (const e of s.enrollment ?? []) if (!e.ok) lines.push(`  ${e.host}: ${e.error}`);
  if (r.skipped.length > 0) lines.push(`not started: ${r.skipped.join(", ")}`);
  lines.push(r.ok ? "apply finished; next: hak-deploy check" : `apply stopped at ${r.failedRole}`);
  return lines.join("\n");
}

export function buildProgram(): Command {
  const program = new Command("hak-deploy")
    .description("Deploys an HA Kubernetes cluster on NixOS with Colmena: the hive from the inventory, host enrollment over SSH, apply, check.")
    .showHelpAfterError("(run with --help for usage)");

  addInventoryOption(
    program
      .command("hive")
      .description(`write ${HIVE_INVENTORY} (the normalised inventory the flake's Colmena hive reads) and one plan per host in ${HIVE_PLANS}/, or check they are current`)
      .option("--dir <dir>", "the folder holding flake.nix", ".")
      .option("--check", "change nothing; exit 1 with a diff naming each file that is missing or not current"),
  ).action((o: InventoryFlags & { dir: string; check?: boolean }) => {
    const inv = inventoryFrom(o);
    const dir = resolve(o.dir);
    if (o.check) {
      const states = checkHive(dir, inv);
      const stale = states.filter((s) => s.state !== "current");
      print(stale.length === 0 ? `${states.length} hive files current` : renderHiveStates(dir, stale));
      if (states.some((s) => s.state !== "current")) exitWith(1);
      return;
    }
    const states = writeHive(dir, inv);
    for (const s of states) {
      print(s.state === "current" ? `${s.path}: already current` : `${s.path}: ${{ missing: "written", changed: "updated", extra: "removed (no such host)" }[s.state]}`);
    }
    if (states.some((s) => s.state !== "current")) print("a flake sees only files git knows: git add hive/");
  });

  addInventoryOption(
    program
      .command("plan")
      .description("print one host's plan: its certificates, the agent's outputs, every service with its command line, files, firewall (--cluster: the cluster-wide objects)")
      .argument("[host]", "inventory host name")
      .option("--cluster", "the cluster plan (RBAC objects hak applies) instead of a host's")
      .option("--yaml", "with --cluster: the manifests as YAML for kubectl apply -f -")
      .option("--files", "also print every config file's content")
      .option("--json", "the plan as JSON, exactly as hive/plans/<host>.json holds it"),
  ).action((host: string | undefined, o: InventoryFlags & { cluster?: boolean; yaml?: boolean; json?: boolean; files?: boolean }) => {
    const inv = inventoryFrom(o);
    if (o.cluster) {
      const cp = clusterPlan(inv);
      print(o.json ? JSON.stringify(cp, null, 2) : o.yaml ? manifestsYaml(cp) : renderClusterPlan(cp));
      return;
    }
    if (host === undefined) throw new InputError("which host? (or --cluster)", { where: "HOST", fix: `hosts are: ${inv.hosts.map((h) => h.name).join(", ")}` });
    if (!findHost(inv, host)) throw new InputError(`not in the inventory: ${host}`, { where: "HOST", fix: `hosts are: ${inv.hosts.map((h) => h.name).join(", ")}` });
    const p = hostPlan(inv, host);
    print(o.json ? JSON.stringify(p, null, 2) : renderHostPlan(p, { files: o.files }));
  });

  addEnrollOptions(
    addSshOptions(
      addInventoryOption(
        addVaultOptions(
          program
            .command("enroll")
            .description("push each host a single-use, address-bound AppRole secret ID over SSH (mode 0600)")
            .argument("[hosts...]", "inventory host names (default: all)")
            .option("--json", "the summary as JSON"),
        ),
      ),
    ),
  ).action(async (names: string[], o: Flags & EnrollFlags) => {
    const inv = inventoryFrom(o);
    const hosts = selectHosts(inv, names);
    const opts = enrollOptionsFrom(o);
    const client = vaultFrom(o);
    try {
      const results = await enrollHosts(client, hosts, opts);
      print(o.json ? JSON.stringify({ ok: results.every((r) => r.ok), hosts: results }, null, 2) : renderEnroll(results));
      if (results.some((r) => !r.ok)) exitWith(1);
    } finally {
      await client.close();
    }
  });

  addEnrollOptions(
    addSshOptions(
      addInventoryOption(
        addVaultOptions(
          program
            .command("apply")
            .description(
              "bootstrap Vault, then per role (etcd, controlplane, loadbalancer, worker): enroll its hosts and colmena apply; etcd and controlplane one host at a time with a health gate between; stops at the first failure",
            )
            .argument("[hosts...]", "only these hosts (default: all)")
            .option("--dir <dir>", "the folder holding flake.nix (Colmena runs there)", ".")
            .option("--colmena <bin>", "the colmena binary", "colmena")
            .option("--colmena-arg <arg>", "extra argument for every colmena apply (repeatable)", (v: string, prev: string[]) => [...prev, v], [] as string[])
            .option("--no-bootstrap", "do not reconcile Vault first")
            .option("--audit-file <path>", "as hak-pki bootstrap --audit-file: the file audit device that must exist")
            .option("--no-cel", "as hak-pki bootstrap --no-cel: classic PKI roles only")
            .option("--no-enroll", "do not enroll (the hosts already have their identity)")
            .option("--dry-run", "check colmena, SSH and Vault, print what would be done, change nothing")
            .option("--no-gate", "no health gate between the hosts of etcd and controlplane (still one host at a time)")
            .option("--gate-timeout <seconds>", "how long one host may take to pass its health gate", "300")
            .option("--cert-dir <dir>", "where the agent keeps certificates on the hosts (for the gate's etcdctl and curl)", DEFAULT_HOST_PATHS.certDir)
            .option("--json", "the report as JSON (Colmena's output then goes to stderr)"),
        ),
      ),
    ),
  ).action(
    async (
      names: string[],
      o: Flags &
        EnrollFlags & {
          auditFile?: string;
          cel: boolean;
          dir: string;
          colmena: string;
          colmenaArg: string[];
          bootstrap: boolean;
          enroll: boolean;
          dryRun?: boolean;
          gate: boolean;
          gateTimeout: string;
          certDir: string;
        },
    ) => {
      const inv = inventoryFrom(o);
      const hosts = names.length > 0 ? selectHosts(inv, names).map((h) => h.name) : undefined;
      const enroll = o.enroll ? enrollOptionsFrom(o) : undefined;
      const client = o.bootstrap || o.enroll ? vaultFrom(o) : undefined;
      try {
        const report = await applyCluster(client, inv, {
          flakeDir: resolve(o.dir),
          colmena: o.colmena,
          colmenaArgs: o.colmenaArg,
          hosts,
          bootstrap: o.bootstrap ? { auditFile: o.auditFile, cel: o.cel ? undefined : false } : false,
          enroll,
          colmenaStdout: o.json ? "stderr" : "inherit",
          dryRun: o.dryRun,
          gate: o.gate ? gateOptionsFrom(o) : undefined,
          onProgress: (l) => process.stderr.write(`hak-deploy: ${l}\n`),
        });
        print(o.json ? JSON.stringify(report, null, 2) : renderApply(report));
        if (!report.ok) exitWith(1);
      } finally {
        await client?.close();
      }
    },
  );

  addSshOptions(
    addInventoryOption(
      program
        .command("check")
        .description("over SSH: agent /readyz on every host, etcd endpoint status --cluster (mTLS), apiserver /readyz through the virtual IP, certificate expiry")
        .argument("[hosts...]", "only these hosts (default: all)")
        .option("--ha", "only the single points of failure the inventory leaves (warnings; no host is contacted)")
        .addOption(new Option("--agent-url <url>", "the agent's readiness URL, as seen on the host").default(DEFAULT_HOST_PATHS.agentUrl))
        .option("--cert-dir <dir>", "where the agent keeps certificates on the hosts", DEFAULT_HOST_PATHS.certDir)
        .option("--kubeconfig <file>", "also check Kubernetes with this operator kubeconfig (the seed's check.sh): nodes Ready, a pod per worker, logs, exec, service DNS, a service account token")
        .option("--image <ref>", "the image of the check pods (sh, httpd, wget, nslookup)", DEFAULT_CHECK_IMAGE)
        .option("--keep", "keep the check namespace (default: deleted at the end)")
        .option("--skip-ssh", "only the Kubernetes checks (hosts without sshd, such as the local cluster's)")
        .option("--json", "the report as JSON"),
    ),
  ).action(async (names: string[], o: InventoryFlags & SshCmdFlags & { agentUrl: string; certDir: string; kubeconfig?: string; image: string; keep?: boolean; skipSsh?: boolean }) => {
    const inv = inventoryFrom(o);
    if (checkHaOnly(inv, o)) return;
    const hosts = selectHosts(inv, names);
    if (o.skipSsh && !o.kubeconfig) throw new InputError("--skip-ssh leaves nothing to check without --kubeconfig", { where: "--skip-ssh" });
    const kubeconfig = o.kubeconfig ? resolve(o.kubeconfig) : undefined;
    // Read once here so a missing or unreadable file is a clear input error, not a kubectl message.
    if (kubeconfig) readInputFile(kubeconfig, "kubeconfig", { where: "--kubeconfig" });
    let report: CheckReport = { ok: true, items: [], certificates: [] };
    if (!o.skipSsh) {
      const ssh = sshSettingsFrom(o);
      report = await checkCluster(inv, hosts, {
        ssh,
        knownHosts: loadKnownHosts(ssh.knownHostsFile),
        paths: { agentUrl: o.agentUrl, certDir: o.certDir },
        parallel: parallelFrom(o.parallel),
        onProgress: o.json ? undefined : progress,
      });
    }
    if (kubeconfig) {
      const items = await checkKubernetes(inv, {
        kubectl: kubectl(kubectlBinary(), kubeconfig),
        image: o.image,
        namespace: `hak-check-${Date.now().toString(36)}`,
        keep: o.keep,
        onProgress: o.json ? undefined : progress,
      });
      report = { ...report, items: [...report.items, ...items], ok: report.ok && items.every((i) => i.ok) };
    }
    print(o.json ? JSON.stringify(report, null, 2) : renderCheck(report));
    if (!report.ok) exitWith(1);
  });

  return program;
}

/** `check --ha`: prints the inventory's single points of failure (warnings, exit 0) and tells the caller it is done. */
function checkHaOnly(inv: Inventory, o: { ha?: boolean; json?: boolean }): boolean {
  if (!o.ha) return false;
  const warnings = haFindings(inv);
  print(o.json ? JSON.stringify({ warnings }, null, 2) : renderHaFindings(warnings));
  return true;
}

export async function main(argv: string[]): Promise<number> {
  return runProgram(buildProgram(), argv);
}
