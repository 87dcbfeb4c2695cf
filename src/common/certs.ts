import { createPrivateKey, createPublicKey, KeyObject, sign, X509Certificate, webcrypto } from "node:crypto";
import { isIPv4, isIPv6 } from "node:net";

/**
 * Keys, CSRs and certificate facts on Node's own crypto: what the agent, the
 * CLIs and serve need at run time, with no library loaded. The few DER
 * structures involved (a PKCS#10 request; the names and extensions of a
 * certificate that Node's X509Certificate does not expose) are written and
 * read here, narrowly. @peculiar/x509 (x509.ts) stays for what makes
 * certificates: the local server's TLS CA and test fixtures.
 *
 * Private keys are made here, on the machine that uses them, and leave this
 * module only as PEM for a 0600 file.
 */

export type KeyType = "ec" | "rsa";

export interface KeyPairPem {
  /** PKCS#8 PEM ("PRIVATE KEY"). */
  privateKeyPem: string;
  keys: CryptoKeyPair;
  algorithm: (EcdsaParams & EcKeyGenParams) | (RsaHashedKeyGenParams & { hash: string });
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

// ---- DER, written: just what a PKCS#10 request needs ----

function derLength(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n]);
  const bytes: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

function tlv(tag: number, ...content: Buffer[]): Buffer {
  const body = Buffer.concat(content);
  return Buffer.concat([Buffer.from([tag]), derLength(body.length), body]);
}

const seq = (...c: Buffer[]) => tlv(0x30, ...c);
const set = (...c: Buffer[]) => tlv(0x31, ...c);

function oid(dotted: string): Buffer {
  const parts = dotted.split(".").map(Number);
  const bytes = [40 * parts[0]! + parts[1]!];
  for (const p of parts.slice(2)) {
    const b: number[] = [p & 0x7f];
    for (let v = Math.floor(p / 128); v > 0; v = Math.floor(v / 128)) b.unshift(0x80 | (v & 0x7f));
    bytes.push(...b);
  }
  return tlv(0x06, Buffer.from(bytes));
}

/** IPv4 or IPv6 text -> its 4 or 16 bytes (IP SANs are octet strings). */
export function ipBytes(ip: string): Buffer {
  if (isIPv4(ip)) return Buffer.from(ip.split(".").map(Number));
  if (!isIPv6(ip)) throw new Error(`not an IP address: ${ip}`);
  let text = ip;
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (v4) {
    const b = v4[1]!.split(".").map(Number);
    text = text.slice(0, -v4[1]!.length) + `${((b[0]! << 8) | b[1]!).toString(16)}:${((b[2]! << 8) | b[3]!).toString(16)}`;
  }
  const [head, tail] = text.split("::") as [string, string | undefined];
  const h = head ? head.split(":") : [];
  const t = tail ? tail.split(":") : [];
  const groups = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill("0"), ...t];
  const out = Buffer.alloc(16);
  groups.forEach((g, i) => out.writeUInt16BE(parseInt(g, 16), i * 2));
  return out;
}

export interface CsrSubject {
  commonName: string;
  dns?: string[];
  ip?: string[];
  uri?: string[];
}

/**
 * A PKCS#10 CSR signed by the key (ECDSA P-256 or RSA PKCS#1 v1.5, SHA-256);
 * Vault's role decides O and OU, the CSR carries CN and SANs.
 */
export async function createCsr(kp: KeyPairPem, subject: CsrSubject): Promise<string> {
  const priv = KeyObject.from(kp.keys.privateKey);
  const spki = KeyObject.from(kp.keys.publicKey).export({ type: "spki", format: "der" });
  const names = [
    ...(subject.dns ?? []).map((d) => tlv(0x82, Buffer.from(d, "ascii"))),
    ...(subject.ip ?? []).map((a) => tlv(0x87, ipBytes(a))),
    ...(subject.uri ?? []).map((u) => tlv(0x86, Buffer.from(u, "ascii"))),
  ];
  const attributes =
    names.length > 0
      ? // [0] IMPLICIT SET OF Attribute: one extensionRequest with the subjectAltName extension.
        tlv(0xa0, seq(oid("1.2.840.113549.1.9.14"), set(seq(seq(oid("2.5.29.17"), tlv(0x04, seq(...names)))))))
      : tlv(0xa0);
  const info = seq(
    tlv(0x02, Buffer.from([0])),
    seq(set(seq(oid("2.5.4.3"), tlv(0x0c, Buffer.from(subject.commonName, "utf8"))))),
    spki,
    attributes,
  );
  const ec = priv.asymmetricKeyType === "ec";
  const algorithm = ec ? seq(oid("1.2.840.10045.4.3.2")) : seq(oid("1.2.840.113549.1.1.11"), tlv(0x05));
  const signature = sign("sha256", info, ec ? { key: priv, dsaEncoding: "der" } : priv);
  return toPem(seq(info, algorithm, tlv(0x03, Buffer.from([0]), signature)), "CERTIFICATE REQUEST");
}

// ---- DER, read: a certificate's names and extensions ----

interface Tlv {
  tag: number;
  /** Offset of the content in the buffer, and its length. */
  start: number;
  len: number;
  /** Offset just past the content. */
  end: number;
}

function readTlv(buf: Buffer, at: number): Tlv {
  const tag = buf[at]!;
  let len = buf[at + 1]!;
  let start = at + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + buf[start + i]!;
    start += n;
  }
  if (start + len > buf.length) throw new Error("truncated DER");
  return { tag, start, len, end: start + len };
}

function children(buf: Buffer, t: Tlv): Tlv[] {
  const out: Tlv[] = [];
  for (let at = t.start; at < t.end; ) {
    const c = readTlv(buf, at);
    out.push(c);
    at = c.end;
  }
  return out;
}

function oidText(buf: Buffer, t: Tlv): string {
  const b = buf.subarray(t.start, t.end);
  const parts = [Math.floor(b[0]! / 40), b[0]! % 40];
  let v = 0;
  for (const x of b.subarray(1)) {
    v = v * 128 + (x & 0x7f);
    if (!(x & 0x80)) {
      parts.push(v);
      v = 0;
    }
  }
  return parts.join(".");
}

function stringValue(buf: Buffer, t: Tlv): string {
  const b = buf.subarray(t.start, t.end);
  if (t.tag === 0x1e) return Buffer.from(b).swap16().toString("utf16le"); // BMPString
  return b.toString(t.tag === 0x14 ? "latin1" : "utf8");
}

/** A Name's attribute values by OID, in order (CN, O and OU may repeat). */
function nameFields(buf: Buffer, name: Tlv): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const rdn of children(buf, name)) {
    for (const atv of children(buf, rdn)) {
      const [type, value] = children(buf, atv);
      if (!type || !value) continue;
      const k = oidText(buf, type);
      out.set(k, [...(out.get(k) ?? []), stringValue(buf, value)]);
    }
  }
  return out;
}

interface CertDer {
  /** Attribute values by OID. */
  subject: Map<string, string[]>;
  issuer: Map<string, string[]>;
  extensions: Map<string, Buffer>;
}

function parseCertDer(der: Buffer): CertDer {
  const cert = readTlv(der, 0);
  const tbs = children(der, children(der, cert)[0]!);
  // version [0] is optional; then serial, signature, issuer, validity, subject, spki, ..., extensions [3].
  const i = tbs[0]!.tag === 0xa0 ? 1 : 0;
  const issuer = nameFields(der, tbs[i + 2]!);
  const subject = nameFields(der, tbs[i + 4]!);
  const extensions = new Map<string, Buffer>();
  const extsWrap = tbs.find((t) => t.tag === 0xa3);
  if (extsWrap) {
    for (const ext of children(der, children(der, extsWrap)[0]!)) {
      const parts = children(der, ext);
      const value = parts.at(-1)!; // OCTET STRING, after the OID and the optional critical flag
      extensions.set(oidText(der, parts[0]!), der.subarray(value.start, value.end));
    }
  }
  return { subject, issuer, extensions };
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

/** Short names of subject attributes, as certificates print them; others by OID. */
const ATTR_NAMES: Record<string, string> = {
  "2.5.4.3": "CN",
  "2.5.4.4": "SN",
  "2.5.4.5": "serialNumber",
  "2.5.4.6": "C",
  "2.5.4.7": "L",
  "2.5.4.8": "ST",
  "2.5.4.9": "STREET",
  "2.5.4.10": "O",
  "2.5.4.11": "OU",
  "2.5.4.12": "title",
  "2.5.4.42": "G",
  "1.2.840.113549.1.9.1": "E",
  "0.9.2342.19200300.100.1.1": "UID",
  "0.9.2342.19200300.100.1.25": "DC",
};

/** GeneralName kinds by context tag, for SANs other than DNS, IP and URI. */
const SAN_KINDS: Record<number, string> = { 0xa0: "otherName", 0x81: "email", 0xa3: "x400Address", 0xa4: "dn", 0xa5: "ediPartyName", 0x88: "registeredID" };

const CN = "2.5.4.3";
const O = "2.5.4.10";
const OU = "2.5.4.11";

const EKU_NAMES: Record<string, string> = {
  "1.3.6.1.5.5.7.3.1": "serverAuth",
  "1.3.6.1.5.5.7.3.2": "clientAuth",
};

/** KeyUsage bits, from bit 0 (the first byte's high bit). */
const KU_BITS = ["digitalSignature", "nonRepudiation", "keyEncipherment", "dataEncipherment", "keyAgreement", "keyCertSign", "cRLSign"];

/** Web Crypto's algorithm names, as certificates' keys were reported so far. */
const KEY_ALGORITHMS: Record<string, string> = { ec: "ECDSA", rsa: "RSASSA-PKCS1-v1_5", "rsa-pss": "RSA-PSS", ed25519: "Ed25519" };

function sanNames(ext: Buffer | undefined): { dns: string[]; ip: string[]; uri: string[]; other: string[] } {
  const out = { dns: [] as string[], ip: [] as string[], uri: [] as string[], other: [] as string[] };
  if (!ext) return out;
  for (const n of children(ext, readTlv(ext, 0))) {
    const v = ext.subarray(n.start, n.end);
    if (n.tag === 0x82) out.dns.push(v.toString("ascii"));
    else if (n.tag === 0x87) out.ip.push(ipText(v));
    else if (n.tag === 0x86) out.uri.push(v.toString("ascii"));
    else if (n.tag === 0x81) out.other.push(`email:${v.toString("ascii")}`);
    else if (n.tag === 0x88) out.other.push(`registeredID:${oidText(ext, n)}`);
    else if (n.tag === 0xa0) out.other.push(`otherName:${oidText(ext, children(ext, n)[0]!)}`);
    else out.other.push(`${SAN_KINDS[n.tag] ?? `tag${n.tag}`}:${v.toString("hex")}`);
  }
  return out;
}

/** Every attribute of a Name as [type, value], in order. */
function nameAttributes(fields: Map<string, string[]>): [string, string][] {
  return [...fields].flatMap(([oid, values]) => values.map((v) => [ATTR_NAMES[oid] ?? oid, v] as [string, string]));
}

/** An IP address in canonical text (IPv6 compressed, as Node and URL print it). */
export function normalizeIp(ip: string): string {
  if (!ip.includes(":")) return ip;
  return new URL(`http://[${ip}]/`).hostname.slice(1, -1);
}

function ipText(b: Buffer): string {
  if (b.length === 4) return [...b].join(".");
  const groups: string[] = [];
  for (let i = 0; i < b.length; i += 2) groups.push(b.readUInt16BE(i).toString(16));
  // Canonical IPv6 text (RFC 5952), as URL parsing gives it.
  return new URL(`http://[${groups.join(":")}]/`).hostname.slice(1, -1);
}

function keyUsage(ext: Buffer | undefined): string[] {
  if (!ext) return [];
  const bits = readTlv(ext, 0);
  const first = bits.len > 1 ? ext[bits.start + 1]! : 0;
  return KU_BITS.filter((_, i) => (first >> (7 - i)) & 1);
}

function extKeyUsage(ext: Buffer | undefined): string[] {
  if (!ext) return [];
  return children(ext, readTlv(ext, 0)).map((t) => {
    const o = oidText(ext, t);
    return EKU_NAMES[o] ?? o;
  });
}

/** The cA flag of BasicConstraints as written (Node's X509Certificate.ca also wants keyCertSign). */
function basicConstraintsCa(ext: Buffer | undefined): boolean {
  if (!ext) return false;
  const first = children(ext, readTlv(ext, 0))[0];
  return first?.tag === 0x01 && ext[first.start] !== 0;
}

/** The SANs a PKCS#10 request asks for (its extensionRequest attribute). */
export function csrSans(csrPem: string): { dns: string[]; ip: string[]; uri: string[]; other: string[] } {
  const b64 = /-----BEGIN (?:NEW )?CERTIFICATE REQUEST-----([\s\S]+?)-----END/.exec(csrPem)?.[1];
  if (!b64) throw new Error("not a PEM certificate request");
  const der = Buffer.from(b64.replace(/\s+/g, ""), "base64");
  const info = children(der, children(der, readTlv(der, 0))[0]!);
  const attrs = info.find((t) => t.tag === 0xa0);
  for (const attr of attrs ? children(der, attrs) : []) {
    const [type, values] = children(der, attr);
    if (!type || !values || oidText(der, type) !== "1.2.840.113549.1.9.14") continue;
    for (const ext of children(der, children(der, values)[0]!)) {
      const parts = children(der, ext);
      if (oidText(der, parts[0]!) !== "2.5.29.17") continue;
      const value = parts.at(-1)!;
      return sanNames(der.subarray(value.start, value.end));
    }
  }
  return sanNames(undefined);
}

export function certFacts(pem: string): CertFacts {
  const c = new X509Certificate(pem);
  const d = parseCertDer(c.raw);
  const san = sanNames(d.extensions.get("2.5.29.17"));
  return {
    serial: formatSerial(c.serialNumber),
    commonName: d.subject.get(CN)?.[0] ?? "",
    organization: d.subject.get(O) ?? [],
    organizationalUnit: d.subject.get(OU) ?? [],
    issuerCommonName: d.issuer.get(CN)?.[0] ?? "",
    notBefore: new Date(c.validFrom),
    notAfter: new Date(c.validTo),
    dns: san.dns,
    ip: san.ip,
    uri: san.uri,
    keyUsage: keyUsage(d.extensions.get("2.5.29.15")),
    extKeyUsage: extKeyUsage(d.extensions.get("2.5.29.37")),
    isCa: basicConstraintsCa(d.extensions.get("2.5.29.19")),
    otherSans: san.other,
    subjectExtra: nameAttributes(d.subject)
      .filter(([type]) => !["CN", "O", "OU"].includes(type))
      .map(([type, v]) => `${type}=${v}`),
    publicKeyAlgorithm: KEY_ALGORITHMS[c.publicKey.asymmetricKeyType ?? ""] ?? String(c.publicKey.asymmetricKeyType),
    fingerprintSha256: c.fingerprint256,
  };
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
    return new X509Certificate(certPem).checkPrivateKey(createPrivateKey(keyPem));
  } catch {
    return false;
  }
}

/** True when `certPem` was signed by the CA certificate `caPem`. */
export function signedBy(certPem: string, caPem: string): boolean {
  try {
    return new X509Certificate(certPem).verify(createPublicKey(new X509Certificate(caPem).publicKey.export({ type: "spki", format: "pem" })));
  } catch {
    return false;
  }
}

/** Splits a PEM bundle into its certificates. */
export function splitPemBundle(text: string): string[] {
  return text.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g)?.map((s) => `${s}\n`) ?? [];
}
