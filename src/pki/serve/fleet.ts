import { findHost, HOST_ROLES, type HostRole, type Inventory } from "../../common/inventory.js";
import { backdateSeconds, certLife, stateOf, type LifeState } from "../../common/lifetime.js";
import { PROFILES, profilesForRole, type ProfileName } from "../../common/profiles.js";
import { certProblems, expectedCert } from "../conformance.js";
import type { IssuedCert } from "../issued.js";

/**
 * The fleet as the issuer sees it: for every identity the inventory expects
 * and every profile it holds, what Vault last signed for it and how close that
 * is to expiry. Pure: a function of (inventory, issued certificates, now).
 */

/**
 * lifetime.ts's states (ok before the renewal point; soon past it, when the
 * agent should be renewing; late in the last sixth without a newer
 * certificate; expired past notAfter) plus missing: never signed, and
 * anomaly: Vault holds a live, unrevoked certificate for this identity that
 * no hak role should have signed (lifetime past leafTtl, a subject or SAN the
 * plan does not expect, a CA bit, extra usages). Anomaly outranks everything:
 * it means a role or policy has a hole, whatever the newest certificate says.
 */
export type CertState = LifeState | "missing" | "anomaly";

/** Every state, worst first. */
export const CERT_STATES: readonly CertState[] = ["anomaly", "expired", "late", "missing", "soon", "ok"];

/** Worst first: the order of CERT_STATES. */
export function severity(s: CertState): number {
  return CERT_STATES.length - CERT_STATES.indexOf(s);
}

/** States that raise an alert when an identity enters them. */
export const ALERTING_STATES: readonly CertState[] = ["late", "expired", "missing", "anomaly"];

/**
 * Who holds an identity. Per-host profiles are held by one host; a shared
 * profile (apiserver-etcd-client, kube-proxy, ...) is signed with the same
 * subject for every host of a role, and its certificate names its holder in a
 * URI SAN (holderUri, which the role lets a host set to itself only): those
 * are per host too. Certificates without that name (signed before it
 * existed) are tracked as one pool per profile for the holders left.
 */
export type Holder = { kind: "host"; host: string; role: HostRole } | { kind: "shared"; role: HostRole; hosts: string[] };

export interface FleetEntry {
  /** Stable key: "<host>/<profile>" or "shared:<role>/<profile>". */
  id: string;
  /** Row label on the page: the host, or "<role> hosts (shared)". */
  identity: string;
  holder: Holder;
  profile: ProfileName;
  ca: string;
  state: CertState;
  serial?: string;
  issuedAt?: string;
  expiresAt?: string;
  renewAt?: string;
  lateAt?: string;
  /** Seconds until notAfter (negative once expired). */
  secondsLeft?: number;
  /** Shared pools: how many unexpired certificates exist and how many holders need one. */
  current?: number;
  needed?: number;
  /** State "anomaly": each offending certificate, "<serial>: <problem>; <problem>". */
  anomalies?: string[];
}

export function sharedLabel(role: HostRole): string {
  return `${role} hosts (shared)`;
}

/**
 * One identity's entry. Life fractions count from when Vault signed the
 * certificate (notBefore plus the roles' backdate), as the agent counts them,
 * or a short-lived certificate would look late just when its agent renews it.
 */
function entryFor(id: string, identity: string, holder: Holder, profile: ProfileName, cert: IssuedCert | undefined, now: Date, backdate: number): FleetEntry {
  const base = { id, identity, holder, profile, ca: PROFILES[profile].ca };
  if (!cert) return { ...base, state: "missing" };
  const { notAfter } = cert.facts;
  const life = certLife(cert.facts.notBefore, notAfter, { backdate });
  return {
    ...base,
    state: stateOf(now, life),
    serial: cert.serial,
    issuedAt: life.signedAt.toISOString(),
    expiresAt: notAfter.toISOString(),
    renewAt: life.dueAt.toISOString(),
    lateAt: life.lateAt.toISOString(),
    secondsLeft: Math.round((notAfter.getTime() - now.getTime()) / 1000),
  };
}

/** Newest first: by notBefore, then notAfter, then serial for a stable order. */
function newestFirst(a: IssuedCert, b: IssuedCert): number {
  return (
    b.facts.notBefore.getTime() - a.facts.notBefore.getTime() ||
    b.facts.notAfter.getTime() - a.facts.notAfter.getTime() ||
    (a.serial < b.serial ? -1 : 1)
  );
}

/**
 * Every expected identity × profile with its state, worst first.
 *
 * Per host: the newest certificate signed for that host and profile.
 * Shared pool of N holders: the N-th newest certificate among the unexpired
 * ones (else the newest expired one): if one holder stopped renewing, the
 * pool takes its state, though Vault's store cannot tell which host it is.
 */
export function computeFleet(inv: Inventory, issued: readonly IssuedCert[], now: Date): FleetEntry[] {
  const backdate = backdateSeconds(inv.leafTtl);
  const byKey = new Map<string, IssuedCert[]>();
  for (const c of issued) {
    // Revoked certificates are not held; certificates without a hak profile are someone else's.
    if (c.revoked || !c.profile) continue;
    const key = c.host === undefined ? `*/${c.profile}` : `${c.host}/${c.profile}`;
    const list = byKey.get(key) ?? [];
    list.push(c);
    byKey.set(key, list);
  }
  for (const list of byKey.values()) list.sort(newestFirst);

  const out: FleetEntry[] = [];
  // A shared profile may be held by hosts of several roles (kube-proxy: control planes and workers).
  const sharedHolders = new Map<ProfileName, { name: string; role: HostRole }[]>();
  /** Live certificates of an identity that depart from its profile; a hole in a role shows here. */
  const anomaliesOf = (key: string, profile: ProfileName, host: string | undefined): string[] => {
    const want = expectedCert(inv, profile, host === undefined ? undefined : findHost(inv, host));
    return (byKey.get(key) ?? [])
      .filter((c) => c.facts.notAfter.getTime() > now.getTime())
      .map((c) => ({ c, problems: certProblems(c.facts, want) }))
      .filter((x) => x.problems.length > 0)
      .map((x) => `${x.c.serial}: ${x.problems.join("; ")}`);
  };
  const flag = (e: FleetEntry, anomalies: string[]): FleetEntry => (anomalies.length > 0 ? { ...e, state: "anomaly", anomalies } : e);
  for (const host of inv.hosts) {
    for (const p of profilesForRole(host.role)) {
      if (p.perHost) {
        const id = `${host.name}/${p.name}`;
        const e = entryFor(id, host.name, { kind: "host", host: host.name, role: host.role }, p.name, byKey.get(id)?.[0], now, backdate);
        out.push(flag(e, anomaliesOf(id, p.name, host.name)));
      } else {
        const holders = sharedHolders.get(p.name) ?? [];
        holders.push({ name: host.name, role: host.role });
        sharedHolders.set(p.name, holders);
      }
    }
  }
  for (const [profile, holders] of sharedHolders) {
    // Holders whose certificates name them (holderUri) get their own entry, like a per-host profile.
    const anonymous = byKey.get(`*/${profile}`) ?? [];
    const unnamed: string[] = [];
    const unnamedRoles: HostRole[] = [];
    for (const { name: h, role: hostRole } of holders) {
      const own = byKey.get(`${h}/${profile}`);
      // With no anonymous certificate at all, a holder without its own has none: missing, on its row.
      if (own || anonymous.length === 0)
        out.push(flag(entryFor(`${h}/${profile}`, h, { kind: "host", host: h, role: hostRole }, profile, own?.[0], now, backdate), anomaliesOf(`${h}/${profile}`, profile, h)));
      else {
        unnamed.push(h);
        unnamedRoles.push(hostRole);
      }
    }
    // The pool's role: its unnamed holders' (the first one's when they differ), else the profile's first holder's.
    const role = unnamedRoles[0] ?? holders[0]!.role;
    const anonymousAnomalies = anomaliesOf(`*/${profile}`, profile, undefined);
    if (unnamed.length === 0) {
      // Every holder is named, yet an unnamed certificate that no role should sign exists: show it as its own cell.
      if (anonymousAnomalies.length > 0)
        out.push(flag(entryFor(`shared:${role}/${profile}`, sharedLabel(role), { kind: "shared", role, hosts: [] }, profile, anonymous[0], now, backdate), anonymousAnomalies));
      continue;
    }
    // The rest is a pool: certificates signed before holders were named (or by an older agent).
    const live = anonymous.filter((c) => c.facts.notAfter.getTime() > now.getTime());
    const needed = unnamed.length;
    const pick = live.length >= needed ? live[needed - 1] : live.length > 0 ? live[live.length - 1] : anonymous[0];
    const holder: Holder = { kind: "shared", role, hosts: unnamed };
    const e = entryFor(`shared:${role}/${profile}`, sharedLabel(role), holder, profile, pick, now, backdate);
    // Fewer current certificates than holders: some holder has none; with some
    // present the pool is at best late (someone is without a valid one).
    if (live.length > 0 && live.length < needed && severity(e.state) < severity("late")) e.state = "late";
    out.push(flag({ ...e, current: live.length, needed }, anonymousAnomalies));
  }
  return sortWorstFirst(out);
}

export function sortWorstFirst(entries: FleetEntry[]): FleetEntry[] {
  return [...entries].sort(
    (a, b) =>
      severity(b.state) - severity(a.state) ||
      (a.secondsLeft ?? -Infinity) - (b.secondsLeft ?? -Infinity) ||
      a.identity.localeCompare(b.identity) ||
      a.profile.localeCompare(b.profile),
  );
}

export function countByState(entries: readonly FleetEntry[]): Record<CertState, number> {
  const counts = Object.fromEntries(CERT_STATES.map((s) => [s, 0])) as Record<CertState, number>;
  for (const e of entries) counts[e.state]++;
  return counts;
}

/** One page row: an identity (host or shared pool) and its cells by profile. */
export interface FleetRow {
  identity: string;
  /** The hosts behind the row: one, or a shared pool's holders. */
  hosts: string[];
  role: HostRole;
  shared: boolean;
  worst: CertState;
  cells: Map<ProfileName, FleetEntry>;
}

/** Groups entries by identity, rows worst first (then soonest expiry), for the page. */
export function fleetRows(entries: readonly FleetEntry[]): FleetRow[] {
  const rows = new Map<string, FleetRow & { minLeft: number }>();
  for (const e of entries) {
    let row = rows.get(e.identity);
    if (!row) {
      const hosts = e.holder.kind === "host" ? [e.holder.host] : e.holder.hosts;
      row = { identity: e.identity, hosts, role: e.holder.role, shared: e.holder.kind === "shared", worst: e.state, cells: new Map(), minLeft: Infinity };
      rows.set(e.identity, row);
    }
    row.cells.set(e.profile, e);
    if (severity(e.state) > severity(row.worst)) row.worst = e.state;
    row.minLeft = Math.min(row.minLeft, e.secondsLeft ?? -Infinity);
  }
  // Among rows in trouble the most urgent comes first; healthy (and missing) rows keep the inventory's order of roles, hosts before pools.
  const urgent = (r: FleetRow) => r.worst === "expired" || r.worst === "late" || r.worst === "soon";
  const roleIndex = (r: FleetRow) => HOST_ROLES.indexOf(r.role);
  return [...rows.values()]
    .sort(
      (a, b) =>
        severity(b.worst) - severity(a.worst) ||
        (urgent(a) ? a.minLeft - b.minLeft : 0) ||
        roleIndex(a) - roleIndex(b) ||
        Number(a.shared) - Number(b.shared) ||
        a.identity.localeCompare(b.identity, "en", { numeric: true }),
    )
    .map(({ minLeft: _m, ...r }) => r);
}
