import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadInventory } from "../../src/common/inventory.js";
import type { LocalBao } from "../../src/common/localbao.js";
import type { VaultClient } from "../../src/common/vault.js";
import { certFacts, keyMatchesCert, signedBy } from "../../src/common/x509.js";
import { bootstrap } from "../../src/pki/bootstrap.js";
import { signProfile } from "../../src/pki/issue.js";
import { devBao } from "../helpers/bao.js";

/**
 * Every profile signed by a real OpenBao and checked field by field against
 * ../shared/kubeadm-pki.md. The expectations are written out here from the
 * reference table, not derived from src/common/profiles.ts, so a wrong
 * profile fails.
 */

const SERVER = ["serverAuth"];
const CLIENT = ["clientAuth"];
const BOTH = ["serverAuth", "clientAuth"];

interface Expect {
  host?: string;
  ca: string;
  cn: string;
  o: string[];
  eku: string[];
  dns: string[];
  ip: string[];
}

const TABLE: Record<string, Expect> = {
  "etcd-server": { host: "etcd1", ca: "etcd-ca", cn: "etcd1", o: [], eku: BOTH, dns: ["etcd1", "etcd1.k8s.local", "localhost"], ip: ["10.240.0.11", "127.0.0.1", "::1"] },
  "etcd-peer": { host: "etcd2", ca: "etcd-ca", cn: "etcd2", o: [], eku: BOTH, dns: ["etcd2", "etcd2.k8s.local", "localhost"], ip: ["10.240.0.12", "127.0.0.1", "::1"] },
  "etcd-healthcheck-client": { ca: "etcd-ca", cn: "kube-etcd-healthcheck-client", o: [], eku: CLIENT, dns: [], ip: [] },
  "apiserver-etcd-client": { ca: "etcd-ca", cn: "kube-apiserver-etcd-client", o: [], eku: CLIENT, dns: [], ip: [] },
  apiserver: {
    host: "controlplane1",
    ca: "kubernetes",
    cn: "kube-apiserver",
    o: [],
    eku: SERVER,
    dns: ["controlplane1", "controlplane1.k8s.local", "kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local", "api.k8s.local"],
    ip: ["10.32.0.1", "10.240.0.21", "10.240.0.10"],
  },
  "apiserver-kubelet-client": { ca: "kubernetes", cn: "kube-apiserver-kubelet-client", o: ["kubeadm:cluster-admins"], eku: CLIENT, dns: [], ip: [] },
  "front-proxy-client": { ca: "front-proxy-ca", cn: "front-proxy-client", o: [], eku: CLIENT, dns: [], ip: [] },
  admin: { ca: "kubernetes", cn: "kubernetes-admin", o: ["kubeadm:cluster-admins"], eku: CLIENT, dns: [], ip: [] },
  "super-admin": { ca: "kubernetes", cn: "kubernetes-super-admin", o: ["system:masters"], eku: CLIENT, dns: [], ip: [] },
  "controller-manager": { ca: "kubernetes", cn: "system:kube-controller-manager", o: [], eku: CLIENT, dns: [], ip: [] },
  scheduler: { ca: "kubernetes", cn: "system:kube-scheduler", o: [], eku: CLIENT, dns: [], ip: [] },
  kubelet: { host: "worker1", ca: "kubernetes", cn: "system:node:worker1", o: ["system:nodes"], eku: CLIENT, dns: [], ip: [] },
  "kubelet-serving": { host: "worker2", ca: "kubernetes", cn: "system:node:worker2", o: ["system:nodes"], eku: SERVER, dns: ["worker2", "worker2.k8s.local"], ip: ["10.240.0.32"] },
  "kube-proxy": { ca: "kubernetes", cn: "system:kube-proxy", o: ["system:node-proxier"], eku: CLIENT, dns: [], ip: [] },
  coredns: { ca: "kubernetes", cn: "system:coredns", o: [], eku: CLIENT, dns: [], ip: [] },
  "host-identity": { host: "loadbalancer1", ca: "hak-identity-ca", cn: "loadbalancer1", o: ["loadbalancer"], eku: CLIENT, dns: ["loadbalancer1", "loadbalancer1.k8s.local"], ip: ["10.240.0.41"] },
};

const inv = loadInventory("examples/demo-cluster.yaml");
let bao: LocalBao;
let c: VaultClient;

beforeAll(async () => {
  bao = await devBao();
  c = bao.client();
  await bootstrap(c, inv);
});
afterAll(async () => {
  await c?.close();
  await bao?.stop();
});

describe("every profile, signed by OpenBao, matches the reference table", () => {
  it("covers all sixteen profiles", () => {
    expect(Object.keys(TABLE)).toHaveLength(16);
  });

  it.each(Object.entries(TABLE))("%s", async (profile, want) => {
    const before = Date.now();
    const s = await signProfile(c, inv, { profile, host: want.host });
    const f = certFacts(s.certPem);
    expect(f.commonName).toBe(want.cn);
    expect(f.organization).toEqual(want.o);
    expect(f.organizationalUnit).toEqual([`hak:${profile}`]);
    expect(f.issuerCommonName).toBe(want.ca);
    expect(f.extKeyUsage.sort()).toEqual([...want.eku].sort());
    // kubeadm's leaves: digitalSignature + keyEncipherment, never a CA.
    expect(f.keyUsage).toEqual(["digitalSignature", "keyEncipherment"]);
    expect(f.isCa).toBe(false);
    expect([...f.dns].sort()).toEqual([...want.dns].sort());
    expect([...f.ip].sort()).toEqual([...want.ip].sort());
    // Validity: the inventory's leaf TTL (30 days), notBefore backdated 5 minutes as kubeadm does.
    const lifetime = (f.notAfter.getTime() - f.notBefore.getTime()) / 1000;
    expect(lifetime).toBeGreaterThanOrEqual(inv.leafTtl + 300 - 5);
    expect(lifetime).toBeLessThanOrEqual(inv.leafTtl + 300 + 5);
    expect(f.notBefore.getTime()).toBeLessThanOrEqual(before - 290_000);
    expect(f.notAfter.getTime()).toBeGreaterThan(before + (inv.leafTtl - 10) * 1000);
    // Signed by the CA the response names, and the key made here belongs to it.
    expect(signedBy(s.certPem, s.caPem)).toBe(true);
    expect(keyMatchesCert(s.keyPem, s.certPem)).toBe(true);
    expect(f.publicKeyAlgorithm).toBe("ECDSA");
  });

  it("CAs are kubeadm's: self-signed, CA=true, keyCertSign, CN as SAN, 10 years, RSA 2048", async () => {
    for (const [mount, cn] of [["pki-kubernetes", "kubernetes"], ["pki-etcd", "etcd-ca"], ["pki-front-proxy", "front-proxy-ca"]] as const) {
      const pem = (await c.read<{ certificate: string }>(`${mount}/cert/ca`))!.certificate;
      const f = certFacts(pem);
      expect(f.commonName).toBe(cn);
      expect(f.issuerCommonName).toBe(cn);
      expect(f.isCa).toBe(true);
      expect(f.keyUsage).toContain("keyCertSign");
      expect(f.dns).toEqual([cn]);
      expect(f.publicKeyAlgorithm).toBe("RSASSA-PKCS1-v1_5");
      const years = (f.notAfter.getTime() - f.notBefore.getTime()) / (365 * 86400_000);
      expect(years).toBeGreaterThan(9.9);
      expect(signedBy(pem, pem)).toBe(true);
    }
  });

  it("RSA 2048 keys work too", async () => {
    const s = await signProfile(c, inv, { profile: "etcd-server", host: "etcd3", keyType: "rsa" });
    expect(certFacts(s.certPem).publicKeyAlgorithm).toBe("RSASSA-PKCS1-v1_5");
    expect(keyMatchesCert(s.keyPem, s.certPem)).toBe(true);
  });
});
