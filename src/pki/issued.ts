import { mapLimit } from "../common/async.js";
import { CA_NAMES, hostFromUris, PKI_MOUNT, profileFromOu, type CaName } from "../common/names.js";
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
  /** The host a per-host certificate belongs to, or the holder a shared one names (holderUri); else undefined. */
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

/**
 * Parsed certificates by "<mount>/<serial>", kept between reads: a stored
 * certificate never changes, so a long-running reader (serve) fetches only
 * serials it has not seen; revocation comes from one list per mount. null
 * marks a serial that is not a hak leaf (the CA itself).
 */
export type IssuedCache = Map<string, IssuedCert | null>;

/** Every stored leaf certificate of hak's PKI mounts (CAs excluded). */
export async function listIssued(client: VaultClient, hostNames: ReadonlySet<string>, cache: IssuedCache = new Map()): Promise<IssuedCert[]> {
  const out: IssuedCert[] = [];
  for (const ca of CA_NAMES) {
    const mount = PKI_MOUNT[ca];
    const [serials, revokedList] = await Promise.all([client.list(`${mount}/certs`), client.list(`${mount}/certs/revoked`)]);
    const revoked = new Set(revokedList);
    const listed = new Set(serials.map((serial) => `${mount}/${serial}`));
    // Serials tidied away from Vault's store leave the cache too.
    for (const key of cache.keys()) if (key.startsWith(`${mount}/`) && !listed.has(key)) cache.delete(key);
    const fresh = serials.filter((serial) => !cache.has(`${mount}/${serial}`));
    await mapLimit(fresh, 8, async (serial) => {
      const d = await client.read<{ certificate?: string }>(`${mount}/cert/${serial}`);
      cache.set(`${mount}/${serial}`, d?.certificate ? leafOf(ca, mount, d.certificate, hostNames) : null);
    });
    for (const serial of serials) {
      const c = cache.get(`${mount}/${serial}`);
      if (c) out.push({ ...c, revoked: revoked.has(serial) });
    }
  }
  return out;
}

function leafOf(ca: CaName, mount: string, pem: string, hostNames: ReadonlySet<string>): IssuedCert | null {
  const facts = certFacts(pem);
  if (facts.isCa) return null;
  const tag = profileFromOu(facts.organizationalUnit);
  const profile = tag && isProfileName(tag) ? tag : undefined;
  const named = hostFromUris(facts.uri);
  const host = !profile ? undefined : PROFILES[profile].perHost ? hostOf(facts, hostNames) : named && hostNames.has(named) ? named : undefined;
  return { ca, mount, serial: facts.serial, profile, host, facts, revoked: false };
}

/** "etcd-server/etcd1", "admin/" — one identity per (profile, host). */
export function identityKey(profile: string, host: string | undefined): string {
  return `${profile}/${host ?? ""}`;
}

/** Later notBefore, then later notAfter; the serial only makes a same-second tie deterministic. */
function newer(a: IssuedCert, b: IssuedCert): boolean {
  const d = a.facts.notBefore.getTime() - b.facts.notBefore.getTime() || a.facts.notAfter.getTime() - b.facts.notAfter.getTime();
  return d !== 0 ? d > 0 : a.serial > b.serial;
}

/** The newest unrevoked certificate of each identity. */
export function latestByIdentity(certs: IssuedCert[]): Map<string, IssuedCert> {
  const out = new Map<string, IssuedCert>();
  for (const c of certs) {
    if (!c.profile || c.revoked) continue;
    const key = identityKey(c.profile, c.host);
    const prev = out.get(key);
    if (!prev || newer(c, prev)) out.set(key, c);
  }
  return out;
}
