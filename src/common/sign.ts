import { HakError } from "./errors.js";
import { PKI_MOUNT, pkiRoleName } from "./names.js";
import { PROFILES, type ProfileName } from "./profiles.js";
import { VaultError, type VaultClient } from "./vault.js";
import { x509 } from "./x509.js";

/**
 * The one way hak asks Vault to sign: `<mount>/sign/<role>` with a CSR made
 * on the machine that keeps the key. Used by `hak-pki issue` and the agent.
 */

export interface SignRequest {
  profile: ProfileName;
  /** Host name for per-host profiles (selects the role `<profile>.<host>`). */
  host?: string;
  csrPem: string;
  commonName: string;
  /** Shorter than the role's TTL, e.g. "8h"; the role's max_ttl caps it. */
  ttl?: string;
}

export interface SignResult {
  certPem: string;
  /** The issuing CA. */
  caPem: string;
  /** Issuing CA up to the root (just the root for hak's own CAs). */
  chainPem: string;
  serial: string;
  expiration: Date;
}

interface SignResponse {
  certificate?: string;
  issuing_ca?: string;
  ca_chain?: string[];
  serial_number?: string;
  expiration?: number;
}

export function signPath(profile: ProfileName, host?: string): string {
  return `${PKI_MOUNT[PROFILES[profile].ca]}/sign/${pkiRoleName(profile, PROFILES[profile].perHost ? host : undefined)}`;
}

/** Per-host profiles with IP SANs (all but kubelet) are CEL roles on OpenBao >= 2.3, which pin IP SANs. */
export function celCapable(profile: ProfileName): boolean {
  return PROFILES[profile].perHost && profile !== "kubelet";
}

export function celSignPath(profile: ProfileName, host: string): string {
  return `${PKI_MOUNT[PROFILES[profile].ca]}/cel/sign/${pkiRoleName(profile, host)}`;
}

/** Clients that found no CEL role on their server; they sign with classic roles from then on. */
const classicOnly = new WeakSet<VaultClient>();

function noCelRole(err: unknown): boolean {
  // HashiCorp Vault: 404 "unsupported path"; OpenBao bootstrapped without CEL: 500 "CEL role not found".
  return err instanceof VaultError && err.errors.some((m) => /unsupported path|CEL role not found/i.test(m));
}

/** The URI SANs a CSR asks for. */
export function csrUris(csrPem: string): string[] {
  const csr = new x509.Pkcs10CertificateRequest(csrPem);
  const san = csr.extensions.find((e): e is x509.SubjectAlternativeNameExtension => e instanceof x509.SubjectAlternativeNameExtension);
  return (san?.names.toJSON() ?? []).filter((n) => n.type === "url").map((n) => n.value);
}

export async function signCsr(client: VaultClient, req: SignRequest): Promise<SignResult> {
  // Roles of profiles without DNS/IP SANs take no SAN from the CSR (an email SAN would pass there),
  // so a holder URI the CSR carries is asked for by name; the role's template allows only the host's own.
  const uris = csrUris(req.csrPem);
  const body = {
    csr: req.csrPem,
    common_name: req.commonName,
    format: "pem",
    // The CSR lists every SAN the profile wants; Vault would add the CN as a DNS SAN otherwise.
    exclude_cn_from_sans: true,
    ...(uris.length > 0 ? { uri_sans: uris.join(",") } : {}),
    ...(req.ttl ? { ttl: req.ttl } : {}),
  };
  let path = signPath(req.profile, req.host);
  let res: Awaited<ReturnType<typeof client.write<SignResponse>>>;
  if (req.host && celCapable(req.profile) && !classicOnly.has(client)) {
    try {
      path = celSignPath(req.profile, req.host);
      res = await client.write<SignResponse>(path, body);
    } catch (err) {
      if (!noCelRole(err)) throw err;
      classicOnly.add(client);
      path = signPath(req.profile, req.host);
      res = await client.write<SignResponse>(path, body);
    }
  } else {
    res = await client.write<SignResponse>(path, body);
  }
  const d = res?.data;
  if (!d?.certificate || !d.issuing_ca || !d.serial_number || typeof d.expiration !== "number") {
    throw new HakError("Vault answered the signing request without a certificate, CA, serial or expiration", { where: path });
  }
  const chain = d.ca_chain && d.ca_chain.length > 0 ? d.ca_chain : [d.issuing_ca];
  return {
    certPem: `${d.certificate.trim()}\n`,
    caPem: `${d.issuing_ca.trim()}\n`,
    chainPem: chain.map((c) => `${c.trim()}\n`).join(""),
    serial: d.serial_number,
    expiration: new Date(d.expiration * 1000),
  };
}
