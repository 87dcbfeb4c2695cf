import { mapLimit } from "../common/async.js";
import { CA_NAMES, PKI_MOUNT, profileFromOu, type CaName } from "../common/names.js";
import { isProfileName, PROFILES, type ProfileName } from "../common/profiles.js";
import type { VaultClient } from "../common/vault.js";
import { certFacts, type CertFacts } from "../common/x509.js";

/**
 * What Vault has signed: the certificates its PKI mounts store, mapped back
 * to (profile, host) through the OU every hak role stamps (`hak:<profile>`).
 * Read-only: the auditor policy is enough.
 */

export interface IssuedCert {
  ca: CaName;
  mount: string;
  serial: string;
  profile: ProfileName | undefined;
  /** The host a per-host certificate belongs to; undefined for shared profiles. */
  host: string | undefined;
  facts: CertFacts;
  revoked: boolean;
}

export interface CaCert {
  ca: CaName;
  mount: string;
  facts: CertFacts;
}


/** The host a certificate names: its CN, its CN after "system:node:", or one of its DNS SANs. */
export function hostOf(facts: CertFacts, hostNames: ReadonlySet<string>): string | undefined {
  const candidates = [facts.commonName, facts.commonName.replace(/^system:node:/, ""), ...facts.dns];
  return candidates.find((c) => hostNames.has(c));
}

export async function readCaCerts(client: VaultClient): Promise<CaCert[]> {
  const out: CaCert[] = [];
  for (const ca of CA_NAMES) {
    const mount = PKI_MOUNT[ca];
    const res = await client.read<{ certificate?: string }>(`${mount}/cert/ca`).catch(() => undefined);
    if (res?.certificate) out.push({ ca, mount, facts: certFacts(res.certificate) });
  }
  return out;
}

/** Every stored leaf certificate of hak's PKI mounts (CAs excluded). */
export async function listIssued(client: VaultClient, hostNames: ReadonlySet<string>): Promise<IssuedCert[]> {
  const out: IssuedCert[] = [];
  for (const ca of CA_NAMES) {
    const mount = PKI_MOUNT[ca];
    const serials = await client.list(`${mount}/certs`);
    const read = await mapLimit(serials, 8, async (serial) => {
      const d = await client.read<{ certificate?: string; revocation_time?: number }>(`${mount}/cert/${serial}`);
      if (!d?.certificate) return undefined;
      const facts = certFacts(d.certificate);
      if (facts.isCa) return undefined;
      const tag = profileFromOu(facts.organizationalUnit);
      const profile = tag && isProfileName(tag) ? tag : undefined;
      const host = profile && PROFILES[profile].perHost ? hostOf(facts, hostNames) : undefined;
      return { ca, mount, serial: facts.serial, profile, host, facts, revoked: (d.revocation_time ?? 0) > 0 } satisfies IssuedCert;
    });
    for (const r of read) if (r) out.push(r);
  }
  return out;
}

/** "etcd-server/etcd1", "admin/" — one identity per (profile, host). */
export function identityKey(profile: string, host: string | undefined): string {
  return `${profile}/${host ?? ""}`;
}

/** The newest unrevoked certificate of each identity. */
export function latestByIdentity(certs: IssuedCert[]): Map<string, IssuedCert> {
  const out = new Map<string, IssuedCert>();
  for (const c of certs) {
    if (!c.profile || c.revoked) continue;
    const key = identityKey(c.profile, c.host);
    const prev = out.get(key);
    if (!prev || c.facts.notBefore > prev.facts.notBefore) out.set(key, c);
  }
  return out;
}
