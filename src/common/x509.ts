// @peculiar/x509 resolves its parsers through tsyringe, which needs the Reflect metadata API.
import "reflect-metadata";
import { createPrivateKey, createPublicKey, X509Certificate as NodeX509, webcrypto } from "node:crypto";
import * as x509 from "@peculiar/x509";

/**
 * Keys, CSRs and certificate facts. Private keys are made here, on the
 * machine that uses them, and leave this module only as PEM for a 0600 file.
 */

x509.cryptoProvider.set(webcrypto as unknown as Crypto);

export type KeyType = "ec" | "rsa";

export interface KeyPairPem {
  /** PKCS#8 PEM ("PRIVATE KEY"). */
  privateKeyPem: string;
  keys: CryptoKeyPair;
  algorithm: EcdsaParams & EcKeyGenParams | (RsaHashedKeyGenParams & { hash: string });
}

const EC_ALG = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" } as const;
const RSA_ALG = { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256", publicExponent: new Uint8Array([1, 0, 1]), modulusLength: 2048 } as const;

export async function generateKeyPair(type: KeyType = "ec"): Promise<KeyPairPem> {
  const algorithm = type === "ec" ? { ...EC_ALG } : { ...RSA_ALG };
  const keys = (await webcrypto.subtle.generateKey(algorithm, true, ["sign", "verify"])) as CryptoKeyPair;
  const pkcs8 = await webcrypto.subtle.exportKey("pkcs8", keys.privateKey);
  return { privateKeyPem: toPem(new Uint8Array(pkcs8), "PRIVATE KEY"), keys, algorithm: algorithm as KeyPairPem["algorithm"] };
}

export function toPem(der: Uint8Array, label: string): string {
  const b64 = Buffer.from(der).toString("base64").replace(/(.{64})/g, "$1\n").replace(/\n$/, "");
  return `-----BEGIN ${label}-----\n${b64}\n-----END ${label}-----\n`;
}

export interface CsrSubject {
  commonName: string;
  dns?: string[];
  ip?: string[];
  uri?: string[];
}

/** A PKCS#10 CSR signed by the key; Vault's role decides O and OU, the CSR carries CN and SANs. */
export async function createCsr(kp: KeyPairPem, subject: CsrSubject): Promise<string> {
  const names: x509.JsonGeneralName[] = [
    ...(subject.dns ?? []).map((value) => ({ type: "dns" as const, value })),
    ...(subject.ip ?? []).map((value) => ({ type: "ip" as const, value })),
    ...(subject.uri ?? []).map((value) => ({ type: "url" as const, value })),
  ];
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    name: [{ CN: [subject.commonName] }],
    keys: kp.keys,
    signingAlgorithm: kp.algorithm,
    extensions: names.length > 0 ? [new x509.SubjectAlternativeNameExtension(names)] : [],
  });
  return csr.toString("pem");
}

export interface CertFacts {
  /** Lower-case hex with colons, as Vault lists serials. */
  serial: string;
  commonName: string;
  organization: string[];
  organizationalUnit: string[];
  issuerCommonName: string;
  notBefore: Date;
  notAfter: Date;
  dns: string[];
  ip: string[];
  /** URI SANs (a shared profile's holder, see holderUri). */
  uri?: string[];
  keyUsage: string[];
  extKeyUsage: string[];
  isCa: boolean;
  /** SANs of kinds other than DNS, IP and URI (email, otherName, ...), as "kind:value". */
  otherSans?: string[];
  /** Subject attributes other than CN, O and OU (e.g. a serialNumber a requester slipped in), as "type=value". */
  subjectExtra?: string[];
  publicKeyAlgorithm: string;
  fingerprintSha256: string;
}

const EKU_NAMES: Record<string, string> = {
  "1.3.6.1.5.5.7.3.1": "serverAuth",
  "1.3.6.1.5.5.7.3.2": "clientAuth",
};

const KU_FLAGS: [number, string][] = [
  [x509.KeyUsageFlags.digitalSignature, "digitalSignature"],
  [x509.KeyUsageFlags.nonRepudiation, "nonRepudiation"],
  [x509.KeyUsageFlags.keyEncipherment, "keyEncipherment"],
  [x509.KeyUsageFlags.dataEncipherment, "dataEncipherment"],
  [x509.KeyUsageFlags.keyAgreement, "keyAgreement"],
  [x509.KeyUsageFlags.keyCertSign, "keyCertSign"],
  [x509.KeyUsageFlags.cRLSign, "cRLSign"],
];

function attr(name: x509.Name, key: string): string[] {
  return name.getField(key);
}

export function certFacts(pem: string): CertFacts {
  const c = new x509.X509Certificate(pem);
  const san = c.getExtension(x509.SubjectAlternativeNameExtension);
  const ku = c.getExtension(x509.KeyUsagesExtension);
  const eku = c.getExtension(x509.ExtendedKeyUsageExtension);
  const bc = c.getExtension(x509.BasicConstraintsExtension);
  const sanJson = san?.names.toJSON() ?? [];
  const node = new NodeX509(pem);
  return {
    serial: formatSerial(c.serialNumber),
    commonName: attr(c.subjectName, "CN")[0] ?? "",
    organization: attr(c.subjectName, "O"),
    organizationalUnit: attr(c.subjectName, "OU"),
    issuerCommonName: attr(c.issuerName, "CN")[0] ?? "",
    notBefore: c.notBefore,
    notAfter: c.notAfter,
    dns: sanJson.filter((n) => n.type === "dns").map((n) => n.value),
    ip: sanJson.filter((n) => n.type === "ip").map((n) => normalizeIp(n.value)),
    uri: sanJson.filter((n) => n.type === "url").map((n) => n.value),
    keyUsage: ku ? KU_FLAGS.filter(([f]) => (ku.usages & f) !== 0).map(([, n]) => n) : [],
    extKeyUsage: eku ? eku.usages.map((u) => EKU_NAMES[String(u)] ?? String(u)) : [],
    isCa: bc?.ca ?? false,
    otherSans: sanJson.filter((n) => n.type !== "dns" && n.type !== "ip" && n.type !== "url").map((n) => `${n.type}:${n.value}`),
    subjectExtra: c.subjectName
      .toJSON()
      .flatMap((rdn) => Object.entries(rdn))
      .filter(([type]) => !["CN", "O", "OU"].includes(type))
      .flatMap(([type, values]) => values.map((v) => `${type}=${v}`)),
    publicKeyAlgorithm: c.publicKey.algorithm.name,
    fingerprintSha256: node.fingerprint256,
  };
}

export function normalizeIp(ip: string): string {
  // @peculiar/x509 prints IPv6 uncompressed; Node's formatting is canonical.
  if (!ip.includes(":")) return ip;
  return new URL(`http://[${ip}]/`).hostname.slice(1, -1);
}

/** "0a1b2c..." (any case, with or without colons) -> "0a:1b:2c:...". */
export function formatSerial(hex: string): string {
  const clean = hex.replace(/:/g, "").toLowerCase();
  const even = clean.length % 2 === 1 ? `0${clean}` : clean;
  return even.match(/../g)!.join(":");
}

/** True when the private key (PEM) belongs to the certificate (PEM). */
export function keyMatchesCert(keyPem: string, certPem: string): boolean {
  try {
    return new NodeX509(certPem).checkPrivateKey(createPrivateKey(keyPem));
  } catch {
    return false;
  }
}

/** True when `certPem` was signed by the CA certificate `caPem`. */
export function signedBy(certPem: string, caPem: string): boolean {
  try {
    return new NodeX509(certPem).verify(createPublicKey(new NodeX509(caPem).publicKey.export({ type: "spki", format: "pem" })));
  } catch {
    return false;
  }
}

/** Splits a PEM bundle into its certificates. */
export function splitPemBundle(text: string): string[] {
  return text.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g)?.map((s) => `${s}\n`) ?? [];
}

export { x509 };
