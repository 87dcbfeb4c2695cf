import { isIP } from "node:net";
import type { Host, Inventory } from "../common/inventory.js";
import { backdateSeconds } from "../common/lifetime.js";
import { profileOu } from "../common/names.js";
import type { Profile } from "../common/profiles.js";

/**
 * OpenBao (>= 2.3) CEL roles for the per-host profiles that carry IP SANs.
 * A classic PKI role pins DNS names and the CN but lets a host put any IP
 * address into its certificate — e.g. a worker could get a serving
 * certificate for the API's virtual IP. A CEL role checks the parsed CSR
 * against the host's own addresses and builds the certificate itself. Pure:
 * the program is data derived from the inventory.
 */

/** An IP address as a CEL bytes literal: b"\x0a\xf0\x00\x20". */
export function ipBytesLiteral(ip: string): string {
  const bytes = isIP(ip) === 4 ? ip.split(".").map(Number) : ipv6Bytes(ip);
  return `b"${bytes.map((b) => `\\x${b.toString(16).padStart(2, "0")}`).join("")}"`;
}

function ipv6Bytes(ip: string): number[] {
  const [head, tail] = ip.includes("::") ? ip.split("::") : [ip, undefined];
  const h = head ? head.split(":") : [];
  const t = tail ? tail.split(":") : [];
  const groups = [...h, ...Array(8 - h.length - t.length).fill("0"), ...t];
  return groups.flatMap((g) => {
    const n = parseInt(g, 16);
    return [n >> 8, n & 255];
  });
}

const str = (s: string) => JSON.stringify(s);
const list = (xs: readonly string[]) => `[${xs.map(str).join(", ")}]`;

/**
 * The CEL environment sees the CSR's key only as its algorithm name and DER
 * SubjectPublicKeyInfo, so strength is read from the SPKI's length: 91 bytes
 * is P-256 (P-224 is 80), 294 bytes is RSA-2048 with e=65537 (RSA-1024 is
 * 162). Go's parser caps the RSA exponent at 63 bits, so an oversized
 * exponent could let a modulus of at least ~2000 bits through; nothing weaker.
 */
export const MIN_SPKI_BYTES = { ECDSA: 91, RSA: 294 } as const;

/** KeyUsage is a bit mask on the wire: digitalSignature (1) | keyEncipherment (4), as kubeadm's leaves. */
const KEY_USAGE = 5;

export interface CelProgram {
  variables: { name: string; expression: string }[];
  expression: string;
}

export function celProgram(inv: Inventory, profile: Profile, host: Host): CelProgram {
  const cn = profile.commonName(host);
  const sans = profile.sans(inv, host);
  const org = profile.organization(host);
  const eku = [
    ...(profile.usage !== "client" ? ["ExtKeyUsage.ExtKeyUsageServerAuth"] : []),
    ...(profile.usage !== "server" ? ["ExtKeyUsage.ExtKeyUsageClientAuth"] : []),
  ];
  const ips = `{${sans.ip.map((ip) => `${str(ip)}: ${ipBytesLiteral(ip)}`).join(", ")}}`;
  const ttl = `duration("${inv.leafTtl}s")`;
  return {
    variables: [
      { name: "allowed_ips", expression: ips },
      { name: "allowed_dns", expression: list(sans.dns) },
      { name: "cn_ok", expression: `parsed_csr.Subject.CommonName == ${str(cn)}` },
      { name: "dns_ok", expression: "parsed_csr.DNSNames.all(d, d in allowed_dns)" },
      { name: "ip_ok", expression: "parsed_csr.IPAddresses.all(i, i in allowed_ips)" },
      { name: "other_ok", expression: "parsed_csr.EmailAddresses.size() == 0 && parsed_csr.URIs.size() == 0" },
      {
        name: "key_ok",
        expression:
          `(parsed_csr.PublicKeyAlgorithm == "ECDSA" && size(parsed_csr.RawSubjectPublicKeyInfo) >= ${MIN_SPKI_BYTES.ECDSA}) || ` +
          `(parsed_csr.PublicKeyAlgorithm == "RSA" && size(parsed_csr.RawSubjectPublicKeyInfo) >= ${MIN_SPKI_BYTES.RSA})`,
      },
      // The lifetime is the role's: a requester may not name the end or the start.
      { name: "dates_ok", expression: `!("not_after" in request && string(request.not_after) != "") && !("not_before" in request && string(request.not_before) != "")` },
      // A shorter lifetime may be asked for ("ttl": "8h"); never a longer one, nor one ending before it starts.
      {
        name: "lifetime",
        expression: `"ttl" in request && duration(string(request.ttl)) > duration("0s") && duration(string(request.ttl)) < ${ttl} ? duration(string(request.ttl)) : ${ttl}`,
      },
    ],
    // The certificate is built only once every check passed: CEL evaluates variables eagerly.
    expression: [
      `!cn_ok ? "common name " + parsed_csr.Subject.CommonName + " not allowed by this role (want ${cn})"`,
      `: !dns_ok ? "a DNS SAN is not allowed by this role (allowed: ${sans.dns.join(", ")})"`,
      `: !ip_ok ? "an IP SAN is not allowed by this role (allowed: ${sans.ip.join(", ") || "none"})"`,
      `: !other_ok ? "email and URI SANs are not allowed"`,
      `: !key_ok ? "the CSR's key is too weak or of the wrong type (wanted ECDSA P-256 or larger, or RSA of at least 2048 bits)"`,
      `: !dates_ok ? "not_after and not_before are not accepted: the role fixes the lifetime"`,
      `: ValidationOutput{template: CertTemplate{`,
      `    Subject: PKIX.Name{CommonName: parsed_csr.Subject.CommonName, Organization: ${list(org ? [org] : [])}, OrganizationUnit: ${list([profileOu(profile.name)])}},`,
      `    NotBefore: now - duration("${backdateSeconds(inv.leafTtl)}s"),`,
      `    NotAfter: now + lifetime,`,
      `    KeyUsage: ${KEY_USAGE},`,
      `    ExtKeyUsage: [${eku.join(", ")}],`,
      `    BasicConstraintsValid: true,`,
      `    DNSNames: parsed_csr.DNSNames,`,
      `    IPAddresses: parsed_csr.IPAddresses.map(i, net.IP{IP: allowed_ips[i]})`,
      `}}`,
    ].join("\n"),
  };
}
