import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { credentialCommand, credentialExpiry, credentialMain, execCredential, readPair } from "../../src/agent/credential.js";
import { writeCertGeneration, type CertContent } from "../../src/agent/writer.js";
import { renderKubeconfig } from "../../src/common/kubeconfig.js";
import { generateKeyPair, x509 } from "../../src/common/x509.js";
import { PROJECT_ROOT } from "../../src/common/paths.js";

/**
 * The kubeconfig credential plugin: when it tells client-go to ask again
 * (pure), what it refuses, that it pairs certificate and key from one
 * generation of the agent's store, and the real binary's output. That
 * client-go switches connections on it, under load and without restarts, is
 * the cluster's rotation test (test/cluster/rotation.ts).
 */

const dir = mkdtempSync(join(tmpdir(), "hak-cred-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const t = (s: number) => new Date(Date.UTC(2026, 0, 1) + s * 1000);

async function pair(cn: string, notBefore: Date, notAfter: Date): Promise<CertContent> {
  const kp = await generateKeyPair("ec");
  const c = await x509.X509CertificateGenerator.createSelfSigned({ serialNumber: "0a", name: [{ CN: [cn] }], notBefore, notAfter, keys: kp.keys, signingAlgorithm: kp.algorithm });
  const pem = `${c.toString("pem")}\n`;
  return { certPem: pem, keyPem: kp.privateKeyPem, caPem: pem, chainPem: pem };
}

describe("credentialExpiry", () => {
  it("is the late point (5/6 of the life from when it was signed), after the agent's latest renewal (0.817)", () => {
    // 2-minute certificate: late at 100 s.
    expect(credentialExpiry(t(0), t(120), t(1))).toEqual(t(100));
    // Backdated 12 s, obtained at 12 s: measured from when the agent got it.
    expect(credentialExpiry(t(0), t(132), t(13), t(12))).toEqual(t(12 + 100));
    // A day: late at 20 h.
    expect(credentialExpiry(t(0), t(86_400), t(60))).toEqual(t(72_000));
  });

  it("past the late point (the agent could not renew): again in a quarter of what is left, between 5 s and a minute", () => {
    expect(credentialExpiry(t(0), t(120), t(110))).toEqual(t(115));
    expect(credentialExpiry(t(0), t(120), t(104))).toEqual(t(109));
    expect(credentialExpiry(t(0), t(86_400), t(80_000))).toEqual(t(80_060));
  });
});

describe("execCredential", () => {
  it("is a v1 ExecCredential with the pair and an RFC 3339 expiry", async () => {
    const p = await pair("system:node:w1", new Date(Date.now() - 10_000), new Date(Date.now() + 110_000));
    const c = execCredential(p, new Date());
    expect(c.apiVersion).toBe("client.authentication.k8s.io/v1");
    expect(c.kind).toBe("ExecCredential");
    expect(c.status.clientCertificateData).toBe(p.certPem);
    expect(c.status.clientKeyData).toBe(p.keyPem);
    expect(c.status.expirationTimestamp).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  });

  it("refuses a key of another certificate, an expired certificate, and text that is no PEM", async () => {
    const a = await pair("a", new Date(Date.now() - 10_000), new Date(Date.now() + 110_000));
    const b = await pair("b", new Date(Date.now() - 10_000), new Date(Date.now() + 110_000));
    expect(() => execCredential({ certPem: a.certPem, keyPem: b.keyPem }, new Date())).toThrow(/does not belong/);
    const old = await pair("old", new Date(Date.now() - 200_000), new Date(Date.now() - 80_000));
    expect(() => execCredential({ certPem: old.certPem, keyPem: old.keyPem }, new Date())).toThrow(/expired at/);
    expect(() => execCredential({ certPem: "nope", keyPem: a.keyPem }, new Date())).toThrow(/no PEM certificate/);
    expect(() => execCredential({ certPem: a.certPem, keyPem: "nope" }, new Date())).toThrow(/no PEM private key/);
  });
});

describe("readPair and the plugin binary", () => {
  const out = { name: "kubelet", certFile: join(dir, "kubelet.crt"), keyFile: join(dir, "kubelet.key") };
  const own = { uid: process.getuid!(), gid: process.getgid!(), mode: 0o600 };

  it("reads certificate and key from the current generation of the agent's store, with its obtainedAt", async () => {
    const g1 = await pair("g1", new Date(Date.now() - 10_000), new Date(Date.now() + 110_000));
    writeCertGeneration(out, g1, own, { obtainedAt: new Date(Date.now() - 5_000).toISOString() });
    const g2 = await pair("g2", new Date(Date.now() - 10_000), new Date(Date.now() + 110_000));
    writeCertGeneration(out, g2, own, { obtainedAt: "2026-01-01T00:00:00.000Z" });
    const p = readPair(out.certFile, out.keyFile);
    expect([p.certPem, p.keyPem]).toEqual([g2.certPem, g2.keyPem]);
    expect(p.obtainedAt?.toISOString()).toBe("2026-01-01T00:00:00.000Z");
  });

  it("bin/hak-agent.js credential prints the ExecCredential; errors name the file and exit 1, usage errors 2", () => {
    const bin = join(PROJECT_ROOT, "bin", "hak-agent.js");
    const ok = spawnSync(process.execPath, [bin, "credential", "--cert", out.certFile, "--key", out.keyFile], { encoding: "utf8" });
    expect(ok.status, ok.stderr).toBe(0);
    const cred = JSON.parse(ok.stdout) as { status: { clientCertificateData: string } };
    expect(cred.status.clientCertificateData).toBe(readFileSync(out.certFile, "utf8"));
    const missing = spawnSync(process.execPath, [bin, "credential", "--cert", join(dir, "none.crt"), "--key", out.keyFile], { encoding: "utf8" });
    expect(missing.status).toBe(1);
    expect(missing.stderr).toContain(join(dir, "none.crt"));
    expect(missing.stdout).toBe("");
    const wrongKey = join(dir, "other.key");
    writeFileSync(wrongKey, readFileSync(out.keyFile, "utf8").replace(/A/g, "B"), { mode: 0o600 });
    const bad = spawnSync(process.execPath, [bin, "credential", "--cert", out.certFile, "--key", wrongKey], { encoding: "utf8" });
    expect(bad.status).toBe(1);
    expect(bad.stderr).not.toMatch(/PRIVATE KEY/);
    expect(spawnSync(process.execPath, [bin, "credential", "--cert", out.certFile], { encoding: "utf8" }).status).toBe(2);
    const lines: string[] = [];
    expect(credentialMain(["--bogus"], () => undefined, (s) => lines.push(s))).toBe(2);
    expect(lines.join("")).toMatch(/unexpected argument "--bogus"/);
  });

  it("a kubeconfig naming it holds no key, only the absolute command", () => {
    const cmd = credentialCommand(out.certFile, out.keyFile);
    const text = renderKubeconfig({ clusterName: "c", server: "https://10.0.0.1:6443", caPem: "CA", exec: cmd, userName: "system:node:w1" });
    const k = parse(text) as { users: { user: { exec: { command: string; args: string[]; apiVersion: string; interactiveMode: string } } }[] };
    expect(text).not.toContain("client-key-data");
    expect(k.users[0]!.user.exec).toMatchObject({ command: process.execPath, apiVersion: "client.authentication.k8s.io/v1", interactiveMode: "Never" });
    expect(k.users[0]!.user.exec.args).toEqual([join(PROJECT_ROOT, "bin", "hak-agent.js"), "credential", "--cert", out.certFile, "--key", out.keyFile]);
  });
});
