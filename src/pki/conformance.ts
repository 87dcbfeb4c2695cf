import type { Host, Inventory } from "../common/inventory.js";
import { backdateSeconds } from "../common/lifetime.js";
import { holderUri, profileOu } from "../common/names.js";
import { PROFILES, type ProfileName } from "../common/profiles.js";
import { normalizeIp, type CertFacts } from "../common/x509.js";

/**
 * What a certificate Vault signed for (profile, host) may look like, and
 * everything in which a stored one differs. Pure. The fleet view (serve)
 * marks an identity `anomaly` when any of its live certificates has a
 * problem, so a hole in a role or policy that opens later is seen; the attack
 * suite checks every certificate an attack obtained with the same function.
 */

/** Key usages hak's roles give: kubeadm's digitalSignature + keyEncipherment; Vault adds keyAgreement for EC keys. */
const ALLOWED_KU = new Set(["digitalSignature", "keyEncipherment", "keyAgreement"]);
/** Clock rounding between Vault's notBefore and notAfter. */
const SLACK_SECONDS = 5;

export interface ExpectedCert {
  commonName: string;
  organization: string[];
  organizationalUnit: string[];
  dns: string[];
  ip: string[];
  /** URI SANs it may carry: a shared profile's holder names itself (holderUri); nothing else. */
  uri: string[];
  extKeyUsage: string[];
  /** Longest notAfter - notBefore a role signs: leafTtl plus the backdate of notBefore. */
  maxLifetimeSeconds: number;
}

export function expectedCert(inv: Inventory, profile: ProfileName, host: Host | undefined): ExpectedCert {
  const p = PROFILES[profile];
  const sans = p.sans(inv, host);
  const org = p.organization(host);
  return {
    commonName: p.commonName(host),
    organization: org ? [org] : [],
    organizationalUnit: [profileOu(profile)],
    dns: sans.dns,
    ip: sans.ip.map(normalizeIp),
    uri: !p.perHost && host ? [holderUri(host.name)] : [],
    extKeyUsage: [...(p.usage !== "client" ? ["serverAuth"] : []), ...(p.usage !== "server" ? ["clientAuth"] : [])],
    maxLifetimeSeconds: inv.leafTtl + backdateSeconds(inv.leafTtl),
  };
}

const sameSet = (a: readonly string[], b: readonly string[]) => a.length === b.length && a.every((x) => b.includes(x));

/** Every way `facts` departs from `want`; empty when it is a certificate hak's roles could have signed. */
export function certProblems(facts: CertFacts, want: ExpectedCert): string[] {
  const out: string[] = [];
  const lifetime = Math.round((facts.notAfter.getTime() - facts.notBefore.getTime()) / 1000);
  if (lifetime > want.maxLifetimeSeconds + SLACK_SECONDS) out.push(`lifetime ${lifetime}s exceeds leafTtl (at most ${want.maxLifetimeSeconds}s with the backdate)`);
  if (facts.commonName !== want.commonName) out.push(`CN ${JSON.stringify(facts.commonName)}, expected ${JSON.stringify(want.commonName)}`);
  if (!sameSet(facts.organization, want.organization)) out.push(`O [${facts.organization.join(", ")}], expected [${want.organization.join(", ")}]`);
  if (!sameSet(facts.organizationalUnit, want.organizationalUnit)) out.push(`OU [${facts.organizationalUnit.join(", ")}], expected [${want.organizationalUnit.join(", ")}]`);
  if (facts.subjectExtra && facts.subjectExtra.length > 0) out.push(`unexpected subject attributes: ${facts.subjectExtra.join(", ")}`);
  const dns = facts.dns.filter((d) => !want.dns.includes(d));
  if (dns.length > 0) out.push(`DNS SANs not in the plan: ${dns.join(", ")}`);
  const ip = facts.ip.filter((i) => !want.ip.includes(normalizeIp(i)));
  if (ip.length > 0) out.push(`IP SANs not in the plan: ${ip.join(", ")}`);
  const uri = (facts.uri ?? []).filter((u) => !want.uri.includes(u));
  if (uri.length > 0) out.push(`URI SANs not in the plan: ${uri.join(", ")}`);
  if (facts.otherSans && facts.otherSans.length > 0) out.push(`SAN kinds the profile does not use: ${facts.otherSans.join(", ")}`);
  if (facts.isCa) out.push("is a CA (basicConstraints CA:TRUE)");
  const ku = facts.keyUsage.filter((u) => !ALLOWED_KU.has(u));
  if (ku.length > 0) out.push(`key usages beyond the profile's: ${ku.join(", ")}`);
  const eku = facts.extKeyUsage.filter((u) => !want.extKeyUsage.includes(u));
  if (eku.length > 0) out.push(`extended key usages beyond the profile's: ${eku.join(", ")}`);
  return out;
}
