import { spawn } from "node:child_process";
import { HakError, InputError } from "../common/errors.js";
import type { Host, HostRole, Inventory } from "../common/inventory.js";
import type { VaultClient } from "../common/vault.js";
import { bootstrap, type BootstrapOptions } from "../pki/bootstrap.js";
import type { Plan } from "../pki/reconcile.js";
import { enrollHosts, type EnrollOptions, type EnrollResult } from "./enroll.js";
import { gateHost, type GateOptions } from "./check.js";
import { checkHive, renderHiveStates } from "./hive.js";
import { preflight, requirePreflight, type PreflightItem } from "./preflight.js";
import { hostsByDeployOrder } from "../plan/topology.js";

/**
 * `hak-deploy apply`: Vault first (the reconciler, idempotent), then role by
 * role in DEPLOY_ORDER: enroll the role's hosts, then `colmena apply`. Where
 * a quorum is at stake (etcd, controlplane) one host at a time
 * (`--on <host>`), and after each a health gate (gateHost: etcd members agree
 * on a leader, the apiserver's /readyz) must pass before the next host is
 * touched: a unit change never restarts two etcd members or apiservers at
 * once. Other roles at once (`--on @role`).
 * Enrolling just before a role is deployed keeps the secret IDs' short TTL
 * ahead of the agent's first start even when earlier roles take long. The
 * first failure (enrollment or Colmena) stops the run: a later role depends
 * on the earlier ones (apiservers on etcd, workers on the load balancers).
 */

export interface ApplyOptions {
  /** The folder with flake.nix and hive/; Colmena runs there. */
  flakeDir: string;
  /** The colmena binary (name on PATH or a path). */
  colmena: string;
  /** Passed to every `colmena apply` after ours (e.g. --impure, --verbose). */
  colmenaArgs: string[];
  /** Only these hosts (by name); all by default. Colmena then gets names instead of @role. */
  hosts?: string[];
  /** Reconcile Vault first (with these options of hak-pki bootstrap), or not. */
  bootstrap: false | Pick<BootstrapOptions, "auditFile" | "cel">;
  /** Enrollment settings; undefined skips enrollment (hosts already have their identity). */
  enroll?: EnrollOptions;
  /** Where Colmena's stdout goes: ours, or stderr when our stdout carries JSON. */
  colmenaStdout: "inherit" | "stderr";
  /** The health gate between hosts of a quorum role; undefined: none (hosts still one at a time). */
  gate?: GateOptions & {
    /** How long a host may take to pass its gate after Colmena returned. */
    timeoutMs: number;
    intervalMs: number;
  };
  onProgress?: (line: string) => void;
  /** Check colmena, SSH and Vault, then show what would be done (Vault's plan, enrollments, colmena runs) and change nothing. */
  dryRun?: boolean;
}

/** Roles whose hosts are deployed one at a time, each behind a health gate. */
export const QUORUM_ROLES: readonly HostRole[] = ["etcd", "controlplane"];

export interface ColmenaRun {
  argv: string[];
  exitCode: number | null;
  signal?: string;
  /** The gate after this run (quorum roles only). */
  gate?: { ok: boolean; detail: string; attempts: number };
}

export interface RoleStep {
  role: HostRole;
  hosts: string[];
  enrollment?: EnrollResult[];
  /** Every colmena run of the role, in order: one per host for a quorum role. */
  colmena: ColmenaRun[];
  ok: boolean;
}

export interface ApplyReport {
  ok: boolean;
  bootstrap?: Plan["counts"];
  steps: RoleStep[];
  /** The role that stopped the run. */
  failedRole?: HostRole;
  /** Roles not started because an earlier one failed. */
  skipped: HostRole[];
  /** What was checked before anything changed. */
  preflight?: PreflightItem[];
  /** A dry run: nothing was changed; steps say what would run. */
  dryRun?: boolean;
}

/** The colmena command line of one role: tags for a whole role, names for a selection. */
export function colmenaArgv(role: HostRole, hosts: Host[] | undefined, extra: string[]): string[] {
  const on = hosts ? hosts.map((h) => h.name).join(",") : `@${role}`;
  return ["apply", "--on", on, ...extra];
}

function runColmena(bin: string, argv: string[], cwd: string, stdout: "inherit" | "stderr"): Promise<{ exitCode: number | null; signal?: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(bin, argv, { cwd, stdio: ["inherit", stdout === "inherit" ? "inherit" : process.stderr, "inherit"] });
    child.once("error", (err: NodeJS.ErrnoException) => reject(colmenaStartError(bin, err)));
    child.once("exit", (code, signal) => resolve({ exitCode: code, signal: signal ?? undefined }));
  });
}

/**
 * The Colmena release the flake's colmenaHive is made for: its `colmena`
 * input is Colmena 0.4, whose makeHive writes hive schema v0. Colmena 0.4
 * reads colmenaHive first and accepts only v0; 0.5 accepts only v0.5
 * (src/nix/hive/flake.nix processFlake, mod.rs in both). So one release
 * works and the other would fail inside Nix; say so before deploying.
 */
export const COLMENA_RELEASE = "0.4";

/** `colmena --version` ("colmena 0.4.0"): the release it is, or an error naming the fix. */
export async function checkColmenaVersion(bin: string): Promise<string> {
  const out = await new Promise<string>((resolve, reject) => {
    const child = spawn(bin, ["--version"], { stdio: ["ignore", "pipe", "pipe"] });
    let text = "";
    child.stdout.on("data", (d: Buffer) => (text += d.toString()));
    child.once("error", (err: NodeJS.ErrnoException) => reject(colmenaStartError(bin, err)));
    child.once("exit", () => resolve(text.trim()));
  });
  const m = /colmena (\d+\.\d+)\.\S*/.exec(out);
  if (!m) throw new InputError(`${bin} --version said ${JSON.stringify(out)}, not "colmena X.Y.Z"`, { where: "--colmena", fix: "pass the colmena binary with --colmena" });
  if (m[1] !== COLMENA_RELEASE)
    throw new InputError(`${bin} is ${m[0]}; this flake's colmenaHive is made by Colmena ${COLMENA_RELEASE}'s makeHive (hive schema v0), which Colmena ${m[1]} refuses`, {
      where: "--colmena",
      fix: `use Colmena ${COLMENA_RELEASE} (nixpkgs' colmena; \`nix develop\` has it) or pass one with --colmena`,
    });
  return m[0];
}

function colmenaStartError(bin: string, err: NodeJS.ErrnoException): HakError {
  return new HakError(err.code === "ENOENT" ? `${bin}: not found` : `cannot start ${bin}: ${err.message}`, {
    where: "--colmena",
    fix: "put colmena on PATH (the flake's devShell has it: nix develop) or pass --colmena /path/to/colmena",
  });
}

export async function applyCluster(client: VaultClient | undefined, inv: Inventory, opts: ApplyOptions): Promise<ApplyReport> {
  const say = (l: string) => opts.onProgress?.(l);
  const hive = checkHive(opts.flakeDir, inv);
  if (hive.some((s) => s.state !== "current"))
    throw new HakError(`the hive does not match the inventory; Colmena would deploy something else\n${renderHiveStates(opts.flakeDir, hive)}`, {
      where: opts.flakeDir,
      fix: "run `hak-deploy hive` (and `git add hive/`), then apply again",
    });
  const selected = opts.hosts ? new Set(opts.hosts) : undefined;
  const groups = hostsByDeployOrder(inv)
    .map((g) => ({ role: g.role, hosts: selected ? g.hosts.filter((h) => selected.has(h.name)) : g.hosts }))
    .filter((g) => g.hosts.length > 0);
  // Before anything changes: colmena there, hosts reachable, Vault up and unsealed.
  const checks = await preflight({
    colmena: opts.colmena,
    client: opts.bootstrap || opts.enroll ? client : undefined,
    ssh: opts.enroll ? { hosts: groups.flatMap((g) => g.hosts), settings: opts.enroll.ssh, knownHosts: opts.enroll.knownHosts, parallel: opts.enroll.parallel } : undefined,
  });
  for (const c of checks) say(`preflight: ${c.check} ${c.target}: ${c.ok ? "ok" : "FAILED"} ${c.detail}`);
  requirePreflight(checks);
  say(`colmena: ${await checkColmenaVersion(opts.colmena)}`);
  const report: ApplyReport = { ok: true, steps: [], skipped: [], preflight: checks, ...(opts.dryRun ? { dryRun: true } : {}) };
  if (opts.bootstrap) {
    if (!client) throw new HakError("bootstrap needs a Vault client");
    say(`vault: ${opts.dryRun ? "planning" : "reconciling"} (hak-pki bootstrap${opts.dryRun ? " --dry-run" : ""})`);
    const plan = await bootstrap(client, inv, { ...opts.bootstrap, dryRun: opts.dryRun });
    report.bootstrap = plan.counts;
    say(`vault: ${Object.entries(plan.counts).map(([k, v]) => `${v} ${k}`).join(", ")}`);
  }
  if (opts.dryRun) {
    // What would run, role by role; no secret ID minted, colmena not started.
    for (const g of groups) {
      // Quorum roles go one host at a time (each behind its gate when applied for real).
      const batches = QUORUM_ROLES.includes(g.role) ? g.hosts.map((h) => [h]) : [selected ? g.hosts : undefined];
      const runs: ColmenaRun[] = batches.map((b) => ({ argv: colmenaArgv(g.role, b, opts.colmenaArgs), exitCode: null }));
      report.steps.push({ role: g.role, hosts: g.hosts.map((h) => h.name), colmena: runs, ok: true });
      const what = runs.map((r) => `${opts.colmena} ${r.argv.join(" ")}`).join(", then ");
      say(`${g.role}: would ${opts.enroll ? `enroll ${g.hosts.map((h) => h.name).join(", ")}, then ` : ""}run ${what}`);
    }
    return report;
  }
  for (const [i, g] of groups.entries()) {
    const step: RoleStep = { role: g.role, hosts: g.hosts.map((h) => h.name), colmena: [], ok: false };
    report.steps.push(step);
    const tag = `[${i + 1}/${groups.length}] ${g.role}`;
    if (opts.enroll) {
      if (!client) throw new HakError("enrollment needs a Vault client");
      say(`${tag}: enrolling ${step.hosts.join(", ")}`);
      step.enrollment = await enrollHosts(client, g.hosts, opts.enroll);
      const failed = step.enrollment.filter((r) => !r.ok);
      if (failed.length > 0) {
        say(`${tag}: enrollment failed for ${failed.map((r) => r.host).join(", ")}; stopping`);
        stop(report, g.role, groups.slice(i + 1).map((x) => x.role));
        return report;
      }
    }
    const batches = await batchesOf(inv, g.role, g.hosts, selected !== undefined, opts.gate, (l) => say(`${tag}: ${l}`));
    for (const batch of batches) {
      const argv = colmenaArgv(g.role, batch, opts.colmenaArgs);
      say(`${tag}: ${opts.colmena} ${argv.join(" ")}`);
      const run: ColmenaRun = { argv, ...(await runColmena(opts.colmena, argv, opts.flakeDir, opts.colmenaStdout)) };
      step.colmena.push(run);
      if (run.exitCode !== 0) {
        say(`${tag}: colmena failed (${run.signal ? `signal ${run.signal}` : `exit ${run.exitCode}`}); stopping`);
        stop(report, g.role, groups.slice(i + 1).map((x) => x.role));
        return report;
      }
      if (opts.gate && QUORUM_ROLES.includes(g.role)) {
        // Every host of the batch: one in a rolling apply, all after a first deployment.
        for (const host of batch ?? g.hosts) {
          run.gate = await waitForGate(inv, host, opts.gate, (l) => say(`${tag}: ${l}`));
          if (!run.gate.ok) {
            say(`${tag}: ${host.name} did not pass its health gate; stopping before the next host`);
            stop(report, g.role, groups.slice(i + 1).map((x) => x.role));
            return report;
          }
        }
      }
    }
    step.ok = true;
    say(`${tag}: done`);
  }
  return report;
}

/**
 * How a role's hosts are handed to Colmena: a list of batches, each one
 * `colmena apply` (undefined: the whole role by tag). A quorum role goes one
 * host at a time while it has a quorum to keep: with a gate, that is when
 * some host of the role passes its gate before anything changes. When none
 * does (a first deployment: a new etcd member cannot become healthy before
 * its peers start), there is nothing to keep and waiting for one host would
 * never end, so the role is applied at once and each host gated after.
 */
async function batchesOf(
  inv: Inventory,
  role: HostRole,
  hosts: Host[],
  selected: boolean,
  gate: ApplyOptions["gate"],
  say: (l: string) => void,
): Promise<(Host[] | undefined)[]> {
  const whole = [selected ? hosts : undefined];
  if (!QUORUM_ROLES.includes(role)) return whole;
  if (gate) {
    let healthy: Host | undefined;
    for (const h of hosts) {
      const v = await gateHost(inv, h, gate);
      if (v.ok) {
        healthy = h;
        break;
      }
    }
    if (!healthy) {
      say(`no ${role} host passes its gate yet (first deployment?): applying the role at once, then gating each host`);
      return whole;
    }
    say(`${healthy.name} is healthy: applying one host at a time`);
  }
  return hosts.map((h) => [h]);
}

/** Polls the host's gate until it passes or the timeout is over. */
async function waitForGate(
  inv: Inventory,
  host: Host,
  gate: NonNullable<ApplyOptions["gate"]>,
  say: (l: string) => void,
): Promise<{ ok: boolean; detail: string; attempts: number }> {
  const deadline = Date.now() + gate.timeoutMs;
  for (let attempts = 1; ; attempts++) {
    const v = await gateHost(inv, host, gate);
    say(`${host.name} gate ${v.ok ? "passed" : "not yet"}: ${v.detail}`);
    if (v.ok || Date.now() + gate.intervalMs > deadline) return { ...v, attempts };
    await new Promise((r) => setTimeout(r, gate.intervalMs));
  }
}

function stop(report: ApplyReport, role: HostRole, rest: HostRole[]): void {
  report.ok = false;
  report.failedRole = role;
  report.skipped = rest;
}
