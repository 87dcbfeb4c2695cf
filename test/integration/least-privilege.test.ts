import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { findHost } from "../../src/common/inventory.js";
import { loopbackInventory } from "../helpers/inventory.js";
import { approleRoleId, SERVICE_ACCOUNT_PATH } from "../../src/common/names.js";
import { requestSpec } from "../../src/common/profiles.js";
import { signCsr } from "../../src/common/sign.js";
import { VaultClient, VaultError } from "../../src/common/vault.js";
import { certFacts, createCsr, generateKeyPair, x509 } from "../../src/common/x509.js";
import { bootstrap } from "../../src/pki/bootstrap.js";
import { realBao } from "../helpers/bao.js";

/**
 * The attacks of a compromised host, each refused by OpenBao itself (not by
 * hak's code): hosts log in exactly as the agent does, from their own
 * (loopback) address, and then ask for what they must not get.
 */

const inv = loopbackInventory({
  name: "lp",
  net: 10,
  hosts: [
    ["etcd1", "etcd"],
    ["controlplane1", "controlplane"],
    ["worker1", "worker"],
    ["worker2", "worker"],
  ],
});

let bao: Awaited<ReturnType<typeof realBao>>;
let root: VaultClient;
const clients: VaultClient[] = [];

function hostClient(address: string, token?: string, tls: { cert?: string; key?: string } = {}): VaultClient {
  const c = new VaultClient({ addresses: [bao.address], tls: { ca: bao.caPem, ...tls }, localAddress: address, token });
  clients.push(c);
  return c;
}

async function newSecretId(host: string): Promise<string> {
  const r = await root.write<{ secret_id: string }>(`auth/approle/role/${host}/secret-id`, {});
  return r!.data!.secret_id;
}

/** AppRole login as the agent does it on first start, from `fromAddress`. */
async function approleLogin(host: string, secretId: string, fromAddress = findHost(inv, host)!.address): Promise<VaultClient> {
  const c = hostClient(fromAddress);
  const r = await c.write("auth/approle/login", { role_id: approleRoleId(inv.name, host), secret_id: secretId }, { token: null });
  c.token = r!.auth!.client_token;
  return c;
}

async function csrFor(profile: Parameters<typeof requestSpec>[1], host?: string, override: { cn?: string; dns?: string[]; ip?: string[] } = {}) {
  const spec = requestSpec(inv, profile, host ? findHost(inv, host) : undefined);
  const kp = await generateKeyPair("ec");
  const csr = await createCsr(kp, { commonName: override.cn ?? spec.commonName, dns: override.dns ?? spec.dns, ip: override.ip ?? spec.ip });
  return { csr, kp, cn: override.cn ?? spec.commonName };
}

async function expectStatus(p: Promise<unknown>, status: number | number[]): Promise<VaultError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err, "Vault should have refused").toBeInstanceOf(VaultError);
  expect([status].flat()).toContain((err as VaultError).status);
  return err as VaultError;
}

let worker1: VaultClient;
let etcd1: VaultClient;

beforeAll(async () => {
  bao = await realBao();
  root = bao.client();
  await bootstrap(root, inv, { auditFile: join(bao.stateDir, "audit.log") });
  worker1 = await approleLogin("worker1", await newSecretId("worker1"));
  etcd1 = await approleLogin("etcd1", await newSecretId("etcd1"));
}, 90_000);

afterAll(async () => {
  for (const c of clients) await c.close();
  await root?.close();
  await bao?.cleanup();
});

describe("a worker's credentials", () => {
  it("sign its own kubelet certificate", async () => {
    const { csr, cn } = await csrFor("kubelet", "worker1");
    const s = await signCsr(worker1, { profile: "kubelet", host: "worker1", csrPem: csr, commonName: cn });
    expect(certFacts(s.certPem)).toMatchObject({ commonName: "system:node:worker1", organization: ["system:nodes"] });
  });

  it("cannot reach super-admin (system:masters) or admin", async () => {
    for (const profile of ["super-admin", "admin"] as const) {
      const { csr, cn } = await csrFor(profile);
      await expectStatus(signCsr(worker1, { profile, csrPem: csr, commonName: cn }), 403);
    }
  });

  it("cannot put system:masters in its own kubelet certificate: the role fixes O", async () => {
    const kp = await generateKeyPair("ec");
    const req = await x509.Pkcs10CertificateRequestGenerator.create({
      name: [{ CN: ["system:node:worker1"] }, { O: ["system:masters"] }],
      keys: kp.keys,
      signingAlgorithm: kp.algorithm,
    });
    const s = await signCsr(worker1, { profile: "kubelet", host: "worker1", csrPem: req.toString("pem"), commonName: "system:node:worker1" });
    expect(certFacts(s.certPem).organization).toEqual(["system:nodes"]);
  });

  it("cannot use another node's role, nor another node's name in its own", async () => {
    const other = await csrFor("kubelet", "worker2");
    await expectStatus(signCsr(worker1, { profile: "kubelet", host: "worker2", csrPem: other.csr, commonName: other.cn }), 403);
    const renamed = await csrFor("kubelet", "worker1", { cn: "system:node:worker2" });
    const err = await expectStatus(signCsr(worker1, { profile: "kubelet", host: "worker1", csrPem: renamed.csr, commonName: renamed.cn }), 400);
    expect(err.errors.join(" ")).toMatch(/not allowed/);
    // kubelet-serving is a CEL role on OpenBao; its refusals come back as 500 with the program's message.
    const extraSan = await csrFor("kubelet-serving", "worker1", { dns: ["worker1", "worker2"] });
    const dnsErr = await expectStatus(signCsr(worker1, { profile: "kubelet-serving", host: "worker1", csrPem: extraSan.csr, commonName: extraSan.cn }), [400, 500]);
    expect(dnsErr.errors.join(" ")).toMatch(/DNS SAN is not allowed/);
  });

  it("cannot put another address, such as the API virtual IP, into its serving certificate", async () => {
    const vip = await csrFor("kubelet-serving", "worker1", { ip: ["127.0.10.31", inv.apiVip] });
    const err = await expectStatus(signCsr(worker1, { profile: "kubelet-serving", host: "worker1", csrPem: vip.csr, commonName: vip.cn }), [400, 500]);
    expect(err.errors.join(" ")).toMatch(/IP SAN is not allowed/);
    const other = await csrFor("kubelet-serving", "worker1", { ip: ["127.0.10.32"] });
    await expectStatus(signCsr(worker1, { profile: "kubelet-serving", host: "worker1", csrPem: other.csr, commonName: other.cn }), [400, 500]);
    // A refusal is final: it is not sent again to the next address (HA clients list several).
    const paths: string[] = [];
    const twice = new VaultClient({ addresses: [bao.address, bao.address], tls: { ca: bao.caPem }, localAddress: "127.0.10.31", token: worker1.token, onRequest: (e) => paths.push(e.path) });
    clients.push(twice);
    await expectStatus(signCsr(twice, { profile: "kubelet-serving", host: "worker1", csrPem: vip.csr, commonName: vip.cn }), [400, 500]);
    expect(paths).toEqual(["pki-kubernetes/cel/sign/kubelet-serving.worker1"]);
    // Nor sign with the classic role of the same name: on OpenBao only the CEL role exists.
    await expectStatus(worker1.write("pki-kubernetes/sign/kubelet-serving.worker1", { csr: vip.csr }), [400, 403]);
  });

  it("cannot get an etcd peer or apiserver certificate", async () => {
    const peer = await csrFor("etcd-peer", "etcd1");
    await expectStatus(signCsr(worker1, { profile: "etcd-peer", host: "etcd1", csrPem: peer.csr, commonName: peer.cn }), 403);
    await expectStatus(signCsr(worker1, { profile: "etcd-peer", host: "worker1", csrPem: peer.csr, commonName: peer.cn }), 403);
    const api = await csrFor("apiserver", "controlplane1");
    await expectStatus(signCsr(worker1, { profile: "apiserver", host: "controlplane1", csrPem: api.csr, commonName: api.cn }), 403);
  });

  it("cannot make Vault generate a key, sign verbatim, or read the service-account key", async () => {
    await expectStatus(worker1.write("pki-kubernetes/issue/kubelet.worker1", { common_name: "system:node:worker1" }), 403);
    const { csr } = await csrFor("kubelet", "worker1");
    await expectStatus(worker1.write("pki-kubernetes/sign-verbatim", { csr }), 403);
    await expectStatus(worker1.request("GET", SERVICE_ACCOUNT_PATH), 403);
  });
});

describe("an etcd host's credentials", () => {
  it("sign its own etcd server certificate, and nothing from the kubernetes CA", async () => {
    const own = await csrFor("etcd-server", "etcd1");
    await signCsr(etcd1, { profile: "etcd-server", host: "etcd1", csrPem: own.csr, commonName: own.cn });
    const admin = await csrFor("admin");
    await expectStatus(signCsr(etcd1, { profile: "admin", csrPem: admin.csr, commonName: admin.cn }), 403);
    const api = await csrFor("apiserver", "controlplane1");
    await expectStatus(signCsr(etcd1, { profile: "apiserver", host: "controlplane1", csrPem: api.csr, commonName: api.cn }), 403);
    await expectStatus(etcd1.write("pki-kubernetes/sign/kubelet.worker1", { csr: admin.csr }), 403);
  });
});

describe("secret IDs", () => {
  it("log in once, never twice", async () => {
    const sid = await newSecretId("worker2");
    await approleLogin("worker2", sid);
    const err = await expectStatus(approleLogin("worker2", sid), 400);
    expect(err.errors.join(" ")).toMatch(/invalid secret id|invalid role or secret ID/i);
  });

  it("do not log in from another address", async () => {
    const sid = await newSecretId("worker2");
    await expectStatus(approleLogin("worker2", sid, "127.0.10.99"), 400);
    // Still unused, so it works from the right address afterwards.
    await approleLogin("worker2", sid);
  });

  it("are bound to their host's role", async () => {
    const sid = await newSecretId("worker2");
    const c = hostClient("127.0.10.31");
    await expectStatus(c.write("auth/approle/login", { role_id: approleRoleId(inv.name, "worker1"), secret_id: sid }, { token: null }), 400);
  });
});

describe("TLS cert auth with the host identity", () => {
  let identity: { cert: string; key: string };

  beforeAll(async () => {
    const { csr, cn, kp } = await csrFor("host-identity", "worker1");
    const s = await signCsr(worker1, { profile: "host-identity", host: "worker1", csrPem: csr, commonName: cn });
    identity = { cert: s.certPem, key: kp.privateKeyPem };
  });

  it("logs the host in as itself, with its own policy", async () => {
    const c = hostClient("127.0.10.31", undefined, identity);
    const r = await c.write("auth/cert/login", { name: "worker1" }, { token: null });
    expect(r?.auth?.token_policies).toEqual(["default", "hak-worker"]);
    c.token = r!.auth!.client_token;
    const own = await csrFor("kubelet", "worker1");
    await signCsr(c, { profile: "kubelet", host: "worker1", csrPem: own.csr, commonName: own.cn });
    const other = await csrFor("kubelet", "worker2");
    await expectStatus(signCsr(c, { profile: "kubelet", host: "worker2", csrPem: other.csr, commonName: other.cn }), 403);
  });

  it("does not log a host in under another host's name, or from another address", async () => {
    // Cert auth refuses with 400 or 403 depending on which check fails first.
    await expectStatus(hostClient("127.0.10.31", undefined, identity).write("auth/cert/login", { name: "worker2" }, { token: null }), [400, 403]);
    await expectStatus(hostClient("127.0.10.32", undefined, identity).write("auth/cert/login", { name: "worker1" }, { token: null }), [400, 403]);
  });

  it("refuses certificates from the cluster CAs", async () => {
    const { csr, cn, kp } = await csrFor("kubelet", "worker1");
    const s = await signCsr(worker1, { profile: "kubelet", host: "worker1", csrPem: csr, commonName: cn });
    const c = hostClient("127.0.10.31", undefined, { cert: s.certPem, key: kp.privateKeyPem });
    await expectStatus(c.write("auth/cert/login", { name: "worker1" }, { token: null }), [400, 403]);
  });
});

describe("the audit log", () => {
  it("records every signing request, with who asked", async () => {
    const log = readFileSync(join(bao.stateDir, "audit.log"), "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as { type: string; request?: { path: string; operation: string }; auth?: { metadata?: Record<string, string>; entity_id?: string } });
    const signs = log.filter((e) => e.type === "request" && e.request?.path === "pki-kubernetes/sign/kubelet.worker1");
    expect(signs.length).toBeGreaterThanOrEqual(3);
    const refused = log.filter((e) => e.type === "response" && e.request?.path === "pki-kubernetes/sign/super-admin");
    expect(refused.length).toBeGreaterThan(0);
    expect(signs.some((e) => e.auth?.metadata?.role_name === "worker1" || e.auth?.metadata?.cert_name === "worker1")).toBe(true);
  });
});
