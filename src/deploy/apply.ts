import { spawn } from "node:child_process";
import { HakError } from "../common/errors.js";
import type { Host, HostRole, Inventory } from "../common/inventory.js";
import type { VaultClient } from "../common/vault.js";
import { bootstrap, type BootstrapOptions } from "../pki/bootstrap.js";
import type { Plan } from "../pki/reconcile.js";
import { enrollHosts, type EnrollOptions, type EnrollResult } from "./enroll.js";
import { checkHive, renderHiveStates } from "./hive.js";
import { preflight, requirePreflight, type PreflightItem } from "./preflight.js";
import { hostsByDeployOrder } from "./topology.js";

/**
 * `hak-deploy apply`: Vault first (the reconciler, idempotent), then role by
 * role in DEPLOY_ORDER: enroll the role's hosts, `colmena apply --on @role`.
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
  onProgress?: (line: string) => void;
  /** Check colmena, SSH and Vault, then show what would be done (Vault's plan, enrollments, colmena runs) and change nothing. */
  dryRun?: boolean;
}

export interface RoleStep {
  role: HostRole;
  hosts: string[];
  enrollment?: EnrollResult[];
  colmena?: { argv: string[]; exitCode: number | null; signal?: string };
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
    child.once("error", (err: NodeJS.ErrnoException) => {
      reject(
        new HakError(err.code === "ENOENT" ? `${bin}: not found` : `cannot start ${bin}: ${err.message}`, {
          where: "--colmena",
          fix: "put colmena on PATH (the flake's devShell has it: nix develop) or pass --colmena /path/to/colmena",
        }),
      );
    });
    child.once("exit", (code, signal) => resolve({ exitCode: code, signal: signal ?? undefined }));
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
      const argv = colmenaArgv(g.role, selected ? g.hosts : undefined, opts.colmenaArgs);
      report.steps.push({ role: g.role, hosts: g.hosts.map((h) => h.name), colmena: { argv, exitCode: null }, ok: true });
      say(`${g.role}: would ${opts.enroll ? `enroll ${g.hosts.map((h) => h.name).join(", ")}, then ` : ""}run ${opts.colmena} ${argv.join(" ")}`);
    }
    return report;
  }
  for (const [i, g] of groups.entries()) {
    const step: RoleStep = { role: g.role, hosts: g.hosts.map((h) => h.name), ok: false };
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
    const argv = colmenaArgv(g.role, selected ? g.hosts : undefined, opts.colmenaArgs);
    say(`${tag}: ${opts.colmena} ${argv.join(" ")}`);
    const res = await runColmena(opts.colmena, argv, opts.flakeDir, opts.colmenaStdout);
    step.colmena = { argv, ...res };
    if (res.exitCode !== 0) {
      say(`${tag}: colmena failed (${res.signal ? `signal ${res.signal}` : `exit ${res.exitCode}`}); stopping`);
      stop(report, g.role, groups.slice(i + 1).map((x) => x.role));
      return report;
    }
    step.ok = true;
    say(`${tag}: done`);
  }
  return report;
}

function stop(report: ApplyReport, role: HostRole, rest: HostRole[]): void {
  report.ok = false;
  report.failedRole = role;
  report.skipped = rest;
}
