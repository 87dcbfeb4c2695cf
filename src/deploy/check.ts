import { CERT_DIR } from "../plan/paths.js";
import { posix } from "node:path";
import { errorMessage } from "../common/errors.js";
import type { Host, Inventory } from "../common/inventory.js";
import { backdateSeconds, certLife, stateOf, type LifeState } from "../common/lifetime.js";
import { profileFromOu } from "../common/names.js";
import { formatExpiry, formatResidual, renderTable } from "../common/table.js";
import { certFacts, splitPemBundle } from "../common/x509.js";
import type { KubeCheckName } from "./kube-check.js";
import { mapLimit } from "./pool.js";
import { remoteShell, shellQuote } from "./shell.js";
import { SshSession, type KnownHosts, type SshSettings } from "./ssh.js";
import { apiServerUrl, etcdClientUrl, etcdClientUrls, hostUrl } from "../plan/topology.js";

/**
 * `hak-deploy check`: the cluster seen from its hosts, over SSH. On every
 * host: the agent's /readyz and the certificates it keeps (expiry). On each
 * etcd host: `etcdctl endpoint status --cluster` over mTLS with its
 * healthcheck client certificate (every member, as that host sees them). On
 * each control-plane host: the apiserver's /readyz through the virtual IP
 * (through keepalived and haproxy, as kubelets reach it).
 * Everything runs with tools every NixOS host has (sh, curl, cat) plus
 * etcdctl on etcd hosts; certificates are parsed here, keys are never read.
 */

/** Where the agent keeps things on a host; the host plans name the same (src/plan/paths.ts). */
export interface HostPaths {
  agentUrl: string;
  certDir: string;
}

export const DEFAULT_HOST_PATHS: HostPaths = {
  agentUrl: "http://127.0.0.1:9180/readyz",
  certDir: CERT_DIR,
};

export type CheckName = "ssh" | "agent" | "etcd" | "apiserver" | "certificates" | KubeCheckName;

export interface CheckItem {
  host: string;
  check: CheckName;
  ok: boolean;
  detail: string;
}

export interface CertRow {
  host: string;
  file: string;
  commonName: string;
  profile?: string;
  isCa: boolean;
  notAfter: string;
  residualSeconds: number;
  state: LifeState;
}

export interface CheckReport {
  ok: boolean;
  items: CheckItem[];
  certificates: CertRow[];
}

export interface CheckOptions {
  ssh: SshSettings;
  knownHosts: KnownHosts;
  paths: HostPaths;
  parallel: number;
  now?: () => Date;
  onProgress?: (host: string, message: string) => void;
}

const CERT_MARK = "==> ";

/** Prints every *.crt of the folder, each after a `==> path` line (certificates only: keys stay on the host). */
export function certListingScript(certDir: string): string {
  return `for f in ${shellQuote(certDir)}/*.crt; do [ -f "$f" ] || continue; printf '${CERT_MARK}%s\\n' "$f"; cat "$f"; done`;
}

/**
 * Rows of the expiry table from the listing; CA bundles count by their first
 * certificate. `backdate`: the roles' notBefore backdate (backdateSeconds of
 * the inventory's leafTtl), so states match what serve and status say.
 */
export function parseCertListing(host: string, text: string, now: Date, backdate = 0): { rows: CertRow[]; problems: string[] } {
  const rows: CertRow[] = [];
  const problems: string[] = [];
  const parts = text.split(new RegExp(`^${CERT_MARK}`, "m")).filter((p) => p.trim() !== "");
  for (const part of parts) {
    const nl = part.indexOf("\n");
    const file = (nl < 0 ? part : part.slice(0, nl)).trim();
    const pem = splitPemBundle(nl < 0 ? "" : part.slice(nl + 1))[0];
    if (!pem) {
      problems.push(`${file}: no certificate in it`);
      continue;
    }
    try {
      const f = certFacts(pem);
      rows.push({
        host,
        file: posix.basename(file),
        commonName: f.commonName,
        profile: profileFromOu(f.organizationalUnit),
        isCa: f.isCa,
        notAfter: f.notAfter.toISOString(),
        residualSeconds: Math.floor((f.notAfter.getTime() - now.getTime()) / 1000),
        state: stateOf(now, certLife(f.notBefore, f.notAfter, { backdate })),
      });
    } catch (err) {
      problems.push(`${file}: not a readable certificate (${errorMessage(err)})`);
    }
  }
  return { rows, problems };
}

/**
 * A leaf the agent should have renewed (its last sixth) or an expired one is
 * a failure; CAs are reported, and fail only once expired.
 */
export function certificatesVerdict(rows: CertRow[], problems: string[]): { ok: boolean; detail: string } {
  const bad = rows.filter((r) => r.state === "expired" || (!r.isCa && r.state === "late"));
  const lines = [...bad.map((r) => `${r.file} ${r.state} (${r.notAfter})`), ...problems];
  if (rows.length === 0 && problems.length === 0) return { ok: false, detail: "no certificates yet" };
  if (lines.length === 0) {
    const soonest = rows.filter((r) => !r.isCa).sort((a, b) => a.residualSeconds - b.residualSeconds)[0] ?? rows[0]!;
    return { ok: true, detail: `${rows.length} certificates; next to expire ${soonest.file} in ${formatResidual(soonest.residualSeconds * 1000)}` };
  }
  return { ok: false, detail: lines.join("; ") };
}

interface EtcdStatus {
  Endpoint: string;
  Status?: { leader?: number | string; version?: string; header?: { member_id?: number | string } };
}

/** Reads `etcdctl endpoint status --cluster -w json`: every inventory member answers and they agree on a leader. */
export function etcdVerdict(stdout: string, stderr: string, exitCode: number | null, expected: string[]): { ok: boolean; detail: string } {
  let statuses: EtcdStatus[] = [];
  try {
    const parsed: unknown = JSON.parse(stdout);
    if (Array.isArray(parsed)) statuses = parsed as EtcdStatus[];
  } catch {
    /* reported below */
  }
  const why = stderr.trim().split("\n").slice(-2).join(" ").trim();
  if (statuses.length === 0) return { ok: false, detail: `etcdctl gave no status (exit ${exitCode})${why ? `: ${why}` : ""}` };
  const seen = new Set(statuses.map((s) => s.Endpoint));
  const missing = expected.filter((u) => !seen.has(u));
  const leaders = new Set(statuses.map((s) => String(s.Status?.leader ?? "0")));
  const problems: string[] = [];
  if (missing.length > 0) problems.push(`no answer from ${missing.join(", ")}`);
  if (leaders.size !== 1 || leaders.has("0")) problems.push(`members disagree on the leader (${[...leaders].join(", ")})`);
  if (exitCode !== 0 && problems.length === 0) problems.push(`etcdctl exit ${exitCode}${why ? `: ${why}` : ""}`);
  if (problems.length > 0) return { ok: false, detail: problems.join("; ") };
  const versions = [...new Set(statuses.map((s) => s.Status?.version ?? "?"))].join(", ");
  return { ok: true, detail: `${statuses.length} member${statuses.length === 1 ? "" : "s"}, one leader, etcd ${versions}` };
}

/** The result of a `curl -fsS` run: ok on exit 0, else curl's own message. */
function curlVerdict(res: { code: number | null; stdout: string; stderr: string }): { ok: boolean; detail: string } {
  const body = res.stdout.trim().split("\n")[0] ?? "";
  if (res.code === 0) return { ok: true, detail: body || "ok" };
  return { ok: false, detail: (res.stderr.trim().split("\n").pop() ?? "") || `curl exit ${res.code}` };
}

const CURL = "curl -fsS --max-time 5";

function etcdCommand(host: Host, certDir: string): string {
  const f = (n: string) => shellQuote(posix.join(certDir, n));
  return (
    `etcdctl --endpoints=${etcdClientUrl(host)} --cacert=${f("etcd-ca.crt")} --cert=${f("etcd-healthcheck-client.crt")} ` +
    `--key=${f("etcd-healthcheck-client.key")} --command-timeout=5s endpoint status --cluster -w json`
  );
}

async function checkHost(inv: Inventory, host: Host, opts: CheckOptions): Promise<{ items: CheckItem[]; certs: CertRow[] }> {
  const items: CheckItem[] = [];
  const add = (check: CheckName, v: { ok: boolean; detail: string }) => {
    items.push({ host: host.name, check, ...v });
    opts.onProgress?.(host.name, `${check}: ${v.ok ? "ok" : "FAILED"} ${v.detail}`);
  };
  const sh = (script: string) => remoteShell(script, opts.ssh.user);
  let session: SshSession;
  try {
    session = await SshSession.connect({ name: host.name, address: host.address }, opts.ssh, opts.knownHosts);
  } catch (err) {
    add("ssh", { ok: false, detail: errorMessage(err) });
    return { items, certs: [] };
  }
  try {
    add("agent", curlVerdict(await session.exec(sh(`${CURL} ${shellQuote(opts.paths.agentUrl)}`))));
    const listing = await session.exec(sh(certListingScript(opts.paths.certDir)));
    const { rows, problems } = parseCertListing(host.name, listing.stdout, (opts.now ?? (() => new Date()))(), backdateSeconds(inv.leafTtl));
    add("certificates", certificatesVerdict(rows, problems));
    if (host.role === "etcd") {
      const r = await session.exec(sh(etcdCommand(host, opts.paths.certDir)));
      add("etcd", etcdVerdict(r.stdout, r.stderr, r.code, etcdClientUrls(inv)));
    }
    if (host.role === "controlplane") {
      const ca = shellQuote(posix.join(opts.paths.certDir, "kubernetes-ca.crt"));
      const url = `${apiServerUrl(inv)}/readyz`;
      const v = curlVerdict(await session.exec(sh(`${CURL} --cacert ${ca} ${shellQuote(url)}`)));
      add("apiserver", { ok: v.ok, detail: `${url}: ${v.detail}` });
    }
    return { items, certs: rows };
  } catch (err) {
    add("ssh", { ok: false, detail: errorMessage(err) });
    return { items, certs: [] };
  } finally {
    session.close();
  }
}

/** What `gateHost` needs: the same SSH settings and host paths as `check`. */
export interface GateOptions {
  ssh: SshSettings;
  knownHosts: KnownHosts;
  paths: HostPaths;
}

/**
 * The health gate `hak-deploy apply` waits on after deploying one host of a
 * quorum role, before touching the next: on an etcd host, every member
 * answers `endpoint status --cluster` and they agree on a leader; on a
 * control-plane host, that host's own apiserver answers /readyz (by its own
 * address: the load balancers holding the virtual IP are deployed later).
 * Other roles have no gate (ok).
 */
export async function gateHost(inv: Inventory, host: Host, opts: GateOptions): Promise<{ ok: boolean; detail: string }> {
  if (host.role !== "etcd" && host.role !== "controlplane") return { ok: true, detail: "no gate for this role" };
  let session: SshSession;
  try {
    session = await SshSession.connect({ name: host.name, address: host.address }, opts.ssh, opts.knownHosts);
  } catch (err) {
    return { ok: false, detail: `ssh: ${errorMessage(err)}` };
  }
  const sh = (script: string) => remoteShell(script, opts.ssh.user);
  try {
    if (host.role === "etcd") {
      const r = await session.exec(sh(etcdCommand(host, opts.paths.certDir)));
      return etcdVerdict(r.stdout, r.stderr, r.code, etcdClientUrls(inv));
    }
    const ca = shellQuote(posix.join(opts.paths.certDir, "kubernetes-ca.crt"));
    const url = `${hostUrl("https", host.address, inv.apiPort)}/readyz`;
    const v = curlVerdict(await session.exec(sh(`${CURL} --cacert ${ca} ${shellQuote(url)}`)));
    return { ok: v.ok, detail: `${url}: ${v.detail}` };
  } catch (err) {
    return { ok: false, detail: `ssh: ${errorMessage(err)}` };
  } finally {
    session.close();
  }
}

export async function checkCluster(inv: Inventory, hosts: readonly Host[], opts: CheckOptions): Promise<CheckReport> {
  const per = await mapLimit(hosts, opts.parallel, (h) => checkHost(inv, h, opts));
  const items = per.flatMap((p) => p.items);
  // A cluster-wide check that no host could run: say so in its own row, so "all ok" never means "nothing checked".
  for (const [check, role] of [["etcd", "etcd"], ["apiserver", "controlplane"]] as const) {
    const candidates = hosts.filter((h) => h.role === role);
    if (candidates.length > 0 && !items.some((i) => i.check === check))
      items.push({ host: candidates.map((h) => h.name).join(","), check, ok: false, detail: `not run: no ${role} host could be reached` });
  }
  return { ok: items.every((i) => i.ok), items, certificates: per.flatMap((p) => p.certs) };
}

export function renderCheck(r: CheckReport): string {
  const checks = renderTable(
    ["HOST", "CHECK", "RESULT", "DETAIL"],
    r.items.map((i) => [i.host, i.check, i.ok ? "ok" : "FAILED", i.detail.replace(/\n\s*/g, " ")]),
  );
  const sshRan = r.items.some((i) => ["ssh", "agent", "certificates", "etcd", "apiserver"].includes(i.check));
  const certs = !sshRan
    ? "(host checks over SSH skipped)"
    : r.certificates.length === 0
      ? "no certificates read"
      : renderTable(
          ["HOST", "CERTIFICATE", "PROFILE", "EXPIRES", "RESIDUAL TIME", "STATE"],
          r.certificates.map((c) => [c.host, c.file, c.isCa ? "(CA)" : (c.profile ?? "-"), formatExpiry(new Date(c.notAfter)), formatResidual(c.residualSeconds * 1000), c.state]),
        );
  const failed = r.items.filter((i) => !i.ok).length;
  return `${checks}\n\n${certs}\n\n${r.ok ? "all checks passed" : `${failed} check${failed === 1 ? "" : "s"} FAILED`}`;
}
