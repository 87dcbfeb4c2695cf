import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { certFacts, createCsr, csrSans, generateKeyPair, ipBytes, type KeyType } from "../../src/common/certs.js";
import { x509 } from "../../src/common/x509.js";
import { seededRandom } from "../helpers/random.js";

/**
 * certs.ts reads and writes DER by hand; @peculiar/x509 (a full ASN.1
 * implementation) and openssl are the references it is checked against.
 */

const dir = mkdtempSync(join(tmpdir(), "hak-certs-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function reference(opts: { cn: string; o: string[]; ou: string[]; dns: string[]; ip: string[]; ku: number; eku: string[]; ca: boolean; serial: string; keyType: KeyType }) {
  const kp = await generateKeyPair(opts.keyType);
  const rdn = [`CN=${opts.cn}`, ...opts.o.map((o) => `O=${o}`), ...opts.ou.map((u) => `OU=${u}`)].join(", ");
  const names = [...opts.dns.map((value) => ({ type: "dns" as const, value })), ...opts.ip.map((value) => ({ type: "ip" as const, value }))];
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: opts.serial,
    name: rdn,
    notBefore: new Date("2026-01-01T00:00:00Z"),
    notAfter: new Date("2026-01-02T03:04:05Z"),
    keys: kp.keys,
    signingAlgorithm: kp.algorithm,
    extensions: [
      new x509.BasicConstraintsExtension(opts.ca, undefined, true),
      ...(opts.ku ? [new x509.KeyUsagesExtension(opts.ku, true)] : []),
      ...(opts.eku.length ? [new x509.ExtendedKeyUsageExtension(opts.eku)] : []),
      ...(names.length ? [new x509.SubjectAlternativeNameExtension(names)] : []),
    ],
  });
  return cert.toString("pem");
}

describe("certFacts on Node's crypto", () => {
  it("reads what @peculiar/x509 wrote: names, SANs, key usages, validity, serial, CA flag", async () => {
    const rnd = seededRandom(14);
    const pick = <T>(xs: T[]) => xs[Math.floor(rnd() * xs.length)]!;
    for (let i = 0; i < 12; i++) {
      const ku = [1, 4, 32, 64, 1 | 4, 32 | 64, 1 | 2 | 4 | 8 | 16][i % 7]!;
      const serialBytes = Array.from({ length: 1 + Math.floor(rnd() * 19) }, () => Math.floor(rnd() * 256));
      serialBytes[0] = (serialBytes[0]! & 0x7f) || 1;
      const opts = {
        cn: pick(["etcd1", "system:node:worker7", "kube-apiserver", "Zoë"]),
        o: pick([[], ["system:masters"], ["system:nodes", "extra"]]),
        ou: pick([[], ["hak:etcd-server"]]),
        dns: pick([[], ["a.k8s.local"], ["localhost", "kubernetes.default.svc", "x.example"]]),
        ip: pick([[], ["10.0.0.1"], ["127.0.0.1", "fd00::1", "2001:db8:0:0:1:0:0:1"]]),
        ku,
        eku: pick([[], ["1.3.6.1.5.5.7.3.1"], ["1.3.6.1.5.5.7.3.1", "1.3.6.1.5.5.7.3.2"], ["1.3.6.1.5.5.7.3.3"]]),
        ca: i % 4 === 0,
        serial: Buffer.from(serialBytes).toString("hex"),
        keyType: (i % 5 === 0 ? "rsa" : "ec") as KeyType,
      };
      const pem = await reference(opts);
      const f = certFacts(pem);
      const ref = new x509.X509Certificate(pem);
      expect(f.commonName).toBe(opts.cn);
      expect(f.organization).toEqual(opts.o);
      expect(f.organizationalUnit).toEqual(opts.ou);
      expect(f.issuerCommonName).toBe(opts.cn);
      expect(f.dns).toEqual(opts.dns);
      expect(f.ip).toEqual(opts.ip.map((a) => (a === "2001:db8:0:0:1:0:0:1" ? "2001:db8::1:0:0:1" : a)));
      expect(f.notBefore.toISOString()).toBe("2026-01-01T00:00:00.000Z");
      expect(f.notAfter.toISOString()).toBe("2026-01-02T03:04:05.000Z");
      expect(f.serial.replace(/:/g, "")).toBe(ref.serialNumber.replace(/^(00)+/, "").padStart(2, "0"));
      expect(f.isCa).toBe(opts.ca);
      const kuNames = ["digitalSignature", "nonRepudiation", "keyEncipherment", "dataEncipherment", "keyAgreement", "keyCertSign", "cRLSign"];
      expect(f.keyUsage).toEqual(kuNames.filter((_, b) => ku & (1 << b)));
      expect(f.extKeyUsage).toEqual(opts.eku.map((o) => ({ "1.3.6.1.5.5.7.3.1": "serverAuth", "1.3.6.1.5.5.7.3.2": "clientAuth" })[o] ?? o));
      expect(f.publicKeyAlgorithm).toBe(opts.keyType === "ec" ? "ECDSA" : "RSASSA-PKCS1-v1_5");
      expect(f.fingerprintSha256).toMatch(/^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
    }
  });

  it("reports URI SANs, SAN kinds hak does not use, and subject attributes beyond CN, O and OU", async () => {
    const kp = await generateKeyPair("ec");
    const cert = await x509.X509CertificateGenerator.createSelfSigned({
      serialNumber: "0102",
      name: [{ CN: ["admin"] }, { O: ["system:masters"] }, { "2.5.4.5": ["42"] }, { C: ["DE"] }],
      notBefore: new Date("2026-01-01T00:00:00Z"),
      notAfter: new Date("2026-01-02T00:00:00Z"),
      keys: kp.keys,
      signingAlgorithm: kp.algorithm,
      extensions: [
        new x509.SubjectAlternativeNameExtension([
          { type: "dns", value: "a.k8s.local" },
          { type: "url", value: "spiffe://hak/host/etcd1" },
          { type: "email", value: "x@example.com" },
        ]),
      ],
    });
    const f = certFacts(cert.toString("pem"));
    expect(f.dns).toEqual(["a.k8s.local"]);
    expect(f.uri).toEqual(["spiffe://hak/host/etcd1"]);
    expect(f.otherSans).toEqual(["email:x@example.com"]);
    expect(f.subjectExtra).toEqual(["serialNumber=42", "C=DE"]);
    expect(f.organization).toEqual(["system:masters"]);
  });

  it("rejects what is not a certificate", () => {
    expect(() => certFacts("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")).toThrow();
  });
});

describe("createCsr on Node's crypto", () => {
  for (const keyType of ["ec", "rsa"] as const) {
    it(`${keyType}: openssl verifies it, and @peculiar/x509 reads back the CN and SANs`, async () => {
      const kp = await generateKeyPair(keyType);
      const subject = { commonName: "system:node:worker1", dns: ["worker1", "worker1.k8s.local"], ip: ["10.240.0.31", "fd00::31"] };
      const pem = await createCsr(kp, subject);
      const file = join(dir, `${keyType}.csr`);
      writeFileSync(file, pem);
      const text = execFileSync("openssl", ["req", "-in", file, "-noout", "-verify", "-text"], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
      expect(text).toMatch(/Subject: CN ?= ?system:node:worker1/);
      expect(text).toMatch(/DNS:worker1, DNS:worker1.k8s.local, IP Address:10.240.0.31, IP Address:FD00:0:0:0:0:0:0:31/);
      const req = new x509.Pkcs10CertificateRequest(pem);
      expect(await req.verify()).toBe(true);
      expect(req.subject).toBe("CN=system:node:worker1");
      const san = new x509.SubjectAlternativeNameExtension(req.extensions.find((e) => e.type === "2.5.29.17")!.rawData);
      expect(san.names.toJSON()).toEqual([
        { type: "dns", value: "worker1" },
        { type: "dns", value: "worker1.k8s.local" },
        { type: "ip", value: "10.240.0.31" },
        { type: "ip", value: "fd00::31" },
      ]);
      // The key in the request is the pair's public key.
      const spki = Buffer.from(await crypto.subtle.exportKey("spki", kp.keys.publicKey));
      expect(Buffer.from(req.publicKey.rawData).equals(spki)).toBe(true);
    });
  }

  it("URI SANs in a CSR, read back by csrSans and by @peculiar/x509", async () => {
    const pem = await createCsr(await generateKeyPair("ec"), { commonName: "admin", uri: ["spiffe://hak/host/cp1"], dns: ["cp1"] });
    expect(csrSans(pem)).toEqual({ dns: ["cp1"], ip: [], uri: ["spiffe://hak/host/cp1"], other: [] });
    const req = new x509.Pkcs10CertificateRequest(pem);
    const san = new x509.SubjectAlternativeNameExtension(req.extensions.find((e) => e.type === "2.5.29.17")!.rawData);
    expect(san.names.toJSON()).toEqual([
      { type: "dns", value: "cp1" },
      { type: "url", value: "spiffe://hak/host/cp1" },
    ]);
    expect(csrSans(await createCsr(await generateKeyPair("ec"), { commonName: "x" }))).toEqual({ dns: [], ip: [], uri: [], other: [] });
    expect(() => csrSans("nonsense")).toThrow(/not a PEM certificate request/);
  });

  it("a CSR without SANs carries an empty attribute set", async () => {
    const pem = await createCsr(await generateKeyPair("ec"), { commonName: "etcd1" });
    const req = new x509.Pkcs10CertificateRequest(pem);
    expect(await req.verify()).toBe(true);
    expect(req.attributes).toEqual([]);
  });

  it("IP addresses as bytes", () => {
    expect([...ipBytes("10.1.2.3")]).toEqual([10, 1, 2, 3]);
    expect(ipBytes("::1").toString("hex")).toBe("00000000000000000000000000000001");
    expect(ipBytes("fd00::31").toString("hex")).toBe("fd000000000000000000000000000031");
    expect(ipBytes("2001:db8::1:0:0:1").toString("hex")).toBe("20010db8000000000001000000000001");
    expect(ipBytes("::ffff:10.0.0.1").toString("hex")).toBe("00000000000000000000ffff0a000001");
    expect(() => ipBytes("10.0.0")).toThrow(/not an IP address/);
  });
});
