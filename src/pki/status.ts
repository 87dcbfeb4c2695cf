import { findHost, type Inventory } from "../common/inventory.js";
import { backdateSeconds, certLife, stateOf, type LifeState } from "../common/lifetime.js";
import { formatExpiry, formatResidual, renderTable } from "../common/table.js";
import type { VaultClient } from "../common/vault.js";
import { certProblems, expectedCert } from "./conformance.js";
import { latestByIdentity, listIssued, readCaCerts, type CaCert, type IssuedCert } from "./issued.js";

/**
 * `hak-pki status` (alias `check-expiration`): kubeadm's two tables, with
 * what kubeadm cannot know — which host holds a certificate and when it
 * will be renewed.
 */

export interface CertRow {
  certificate: string;
  host: string | null;
  serial: string;
  expires: string;
  residualSeconds: number;
  renewsAt: string;
  state: LifeState;
  certificateAuthority: string;
  externallyManaged: boolean;
}

export interface CaRow {
  certificateAuthority: string;
  commonName: string;
  expires: string;
  residualSeconds: number;
  externallyManaged: boolean;
}

/** A live certificate no hak role should have signed (conformance.ts), whether or not it is the newest. */
export interface AnomalyRow {
  certificate: string;
  host: string | null;
  serial: string;
  expires: string;
  problems: string[];
}

export interface StatusReport {
  certificates: CertRow[];
  certificateAuthorities: CaRow[];
  anomalies: AnomalyRow[];
}

/** Every live, unrevoked hak certificate that departs from its profile. */
export function findAnomalies(inv: Inventory, issued: readonly IssuedCert[], now: Date): AnomalyRow[] {
  return issued
    .filter((c) => c.profile && !c.revoked && c.facts.notAfter.getTime() > now.getTime())
    .map((c) => ({ c, problems: certProblems(c.facts, expectedCert(inv, c.profile!, c.host === undefined ? undefined : findHost(inv, c.host))) }))
    .filter((x) => x.problems.length > 0)
    .map(({ c, problems }) => ({ certificate: c.profile!, host: c.host ?? null, serial: c.serial, expires: c.facts.notAfter.toISOString(), problems }));
}

export function buildStatus(now: Date, cas: CaCert[], latest: Iterable<IssuedCert>, backdate: number): StatusReport {
  const certificates = [...latest]
    .map((c) => ({ c, life: certLife(c.facts.notBefore, c.facts.notAfter, { backdate }) }))
    .map(({ c, life }) => ({
      certificate: c.profile ?? c.facts.commonName,
      host: c.host ?? null,
      serial: c.serial,
      expires: c.facts.notAfter.toISOString(),
      residualSeconds: Math.floor((c.facts.notAfter.getTime() - now.getTime()) / 1000),
      renewsAt: life.dueAt.toISOString(),
      state: stateOf(now, life),
      certificateAuthority: c.ca,
      // Vault holds the CA keys: nothing here is on a local disk for kubeadm to renew.
      externallyManaged: true,
    }))
    .sort((a, b) => a.certificate.localeCompare(b.certificate) || (a.host ?? "").localeCompare(b.host ?? ""));
  const certificateAuthorities = cas.map((c) => ({
    certificateAuthority: c.ca,
    commonName: c.facts.commonName,
    expires: c.facts.notAfter.toISOString(),
    residualSeconds: Math.floor((c.facts.notAfter.getTime() - now.getTime()) / 1000),
    externallyManaged: true,
  }));
  return { certificates, certificateAuthorities, anomalies: [] };
}

export async function readStatus(client: VaultClient, inv: Inventory, now = new Date()): Promise<StatusReport> {
  const names = new Set(inv.hosts.map((h) => h.name));
  const [cas, issued] = await Promise.all([readCaCerts(client), listIssued(client, names)]);
  return { ...buildStatus(now, cas, latestByIdentity(issued).values(), backdateSeconds(inv.leafTtl)), anomalies: findAnomalies(inv, issued, now) };
}

export function renderStatus(r: StatusReport): string {
  const certs = renderTable(
    ["CERTIFICATE", "HOST", "EXPIRES", "RESIDUAL TIME", "RENEWS AT", "STATE", "CERTIFICATE AUTHORITY"],
    r.certificates.map((c) => [
      c.certificate,
      c.host ?? "-",
      formatExpiry(new Date(c.expires)),
      formatResidual(c.residualSeconds * 1000),
      formatExpiry(new Date(c.renewsAt)),
      c.state,
      c.certificateAuthority,
    ]),
  );
  const cas = renderTable(
    ["CERTIFICATE AUTHORITY", "EXPIRES", "RESIDUAL TIME"],
    r.certificateAuthorities.map((c) => [c.certificateAuthority, formatExpiry(new Date(c.expires)), formatResidual(c.residualSeconds * 1000)]),
  );
  const none = r.certificates.length === 0 ? "\n(no certificates issued yet)" : "";
  const anomalies =
    r.anomalies.length === 0
      ? ""
      : `\n\nANOMALIES: live certificates no hak role should have signed (revoke them, find the hole)\n${renderTable(
          ["CERTIFICATE", "HOST", "SERIAL", "EXPIRES", "PROBLEM"],
          r.anomalies.map((a) => [a.certificate, a.host ?? "-", a.serial, formatExpiry(new Date(a.expires)), a.problems.join("; ")]),
        )}`;
  // kubeadm's EXTERNALLY MANAGED column would say "yes" on every row here: the CA keys live in Vault. Said once instead.
  return `${certs}${none}\n\n${cas}\n\nEvery CA key is held by Vault (kubeadm would call them all externally managed); agents renew the leaves.${anomalies}\n`;
}
