import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import type { TLSSocket } from "node:tls";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import type { LocalBao } from "../../src/common/localbao.js";
import { certFacts } from "../../src/common/x509.js";
import { main } from "../../src/pki/cli.js";
import { devBao } from "../helpers/bao.js";

const run = promisify(execFile);
let bao: LocalBao;
const dir = mkdtempSync(join(tmpdir(), "hak-cli-"));
const inventory = "examples/demo-cluster.yaml";

/** Runs `hak-pki ARGS` in-process with the dev server's environment; returns exit code and output. */
async function hakPki(args: string[], env: Record<string, string | undefined> = {}): Promise<{ code: number; out: string; err: string }> {
  let out = "";
  let err = "";
  const o = vi.spyOn(process.stdout, "write").mockImplementation((s) => ((out += String(s)), true));
  const e = vi.spyOn(process.stderr, "write").mockImplementation((s) => ((err += String(s)), true));
  const saved = { ...process.env };
  Object.assign(process.env, { VAULT_ADDR: bao.address, VAULT_TOKEN: bao.rootToken, HAK_INVENTORY: undefined }, env);
  for (const [k, v] of Object.entries(env)) if (v === undefined) delete process.env[k];
  try {
    const code = await main(args);
    return { code, out, err };
  } finally {
    process.env = saved;
    o.mockRestore();
    e.mockRestore();
  }
}

beforeAll(async () => {
  bao = await devBao();
});
afterAll(async () => bao?.stop());

describe("hak-pki CLI", () => {
  it("bootstrap --dry-run prints a plan, bootstrap applies it, a second run says no changes", async () => {
    const dry = await hakPki(["bootstrap", "-i", inventory, "--dry-run"]);
    expect(dry.code).toBe(0);
    expect(dry.out).toMatch(/create\s+pki-cel-role pki-etcd\/cel\/roles\/etcd-server\.etcd1/);
    expect(dry.out).toMatch(/planned \(dry run, nothing changed\): 133 to create/);
    expect((await hakPki(["bootstrap", "-i", inventory])).code).toBe(0);
    const again = await hakPki(["bootstrap", "-i", inventory, "--json"]);
    const plan = JSON.parse(again.out) as { counts: Record<string, number> };
    expect(plan.counts).toMatchObject({ create: 0, update: 0, delete: 0 });
    expect((await hakPki(["bootstrap", "-i", inventory])).out).toMatch(/no changes/);
  });

  it("issue admin writes cert, 0600 key, CA and a kubeconfig kubectl uses over mTLS", async () => {
    const r = await hakPki(["issue", "admin", "-i", inventory, "--out", dir, "--kubeconfig", join(dir, "admin.conf")]);
    expect(r.code).toBe(0);
    expect(statSync(join(dir, "admin.key")).mode & 0o777).toBe(0o600);
    expect(statSync(join(dir, "admin.conf")).mode & 0o777).toBe(0o600);
    expect(certFacts(readFileSync(join(dir, "admin.crt"), "utf8")).commonName).toBe("kubernetes-admin");

    // A stand-in API endpoint: an HTTPS server with a real apiserver certificate
    // from the same Vault, requiring a client certificate from the kubernetes CA.
    const api = await hakPki(["issue", "apiserver", "--name", "controlplane1", "-i", inventory, "--out", dir]);
    expect(api.code).toBe(0);
    const seen: { cn?: string; o?: string } = {};
    const server: Server = createServer(
      {
        cert: readFileSync(join(dir, "apiserver-controlplane1.crt")),
        key: readFileSync(join(dir, "apiserver-controlplane1.key")),
        ca: readFileSync(join(dir, "ca.crt")),
        requestCert: true,
        rejectUnauthorized: true,
      },
      (req, res) => {
        const peer = (req.socket as TLSSocket).getPeerCertificate();
        seen.cn = peer.subject.CN as string;
        seen.o = peer.subject.O as string;
        res.writeHead(200, { "content-type": "text/plain" }).end("ok");
      },
    );
    await new Promise<void>((res) => server.listen(0, "127.0.0.1", res));
    const port = (server.address() as { port: number }).port;
    try {
      const { stdout } = await run("kubectl", [
        "--kubeconfig", join(dir, "admin.conf"),
        "--server", `https://127.0.0.1:${port}`,
        "--tls-server-name", "kubernetes",
        "get", "--raw", "/healthz",
      ]);
      expect(stdout.trim()).toBe("ok");
      expect(seen).toEqual({ cn: "kubernetes-admin", o: "kubeadm:cluster-admins" });
      const { stdout: view } = await run("kubectl", ["--kubeconfig", join(dir, "admin.conf"), "config", "view", "-o", "jsonpath={.clusters[0].cluster.server}"]);
      expect(view).toBe("https://api.k8s.local:6443");
    } finally {
      server.close();
    }
  });

  it("status lists what was issued and the four CAs; --json for scripts", async () => {
    const table = await hakPki(["check-expiration", "-i", inventory]);
    expect(table.code).toBe(0);
    expect(table.out).toMatch(/^CERTIFICATE\s+HOST\s+EXPIRES\s+RESIDUAL TIME\s+RENEWS AT/m);
    expect(table.out).toMatch(/^apiserver\s+controlplane1\s+/m);
    expect(table.out).toMatch(/^admin\s+-\s+/m);
    expect(table.out).toMatch(/^CERTIFICATE AUTHORITY\s+EXPIRES/m);
    const json = JSON.parse((await hakPki(["status", "-i", inventory, "--json"])).out) as {
      certificates: { certificate: string; host: string | null; state: string; residualSeconds: number }[];
      certificateAuthorities: { certificateAuthority: string }[];
    };
    expect(json.certificateAuthorities.map((c) => c.certificateAuthority)).toEqual(["kubernetes", "etcd", "front-proxy", "identity"]);
    const api = json.certificates.find((c) => c.certificate === "apiserver");
    expect(api).toMatchObject({ host: "controlplane1", state: "ok" });
    expect(api!.residualSeconds).toBeGreaterThan(29 * 86400);
  });

  it("bad input exits 2 and names what is wrong; nothing is written", async () => {
    const bad = join(dir, "bad.yaml");
    writeFileSync(bad, readFileSync(inventory, "utf8").replace("10.240.0.31", "10.240.0.300"));
    const r = await hakPki(["bootstrap", "-i", bad]);
    expect(r.code).toBe(2);
    expect(r.err).toContain("hosts[6].address: not an IPv4/IPv6 address");
    const p = await hakPki(["issue", "kubelet", "-i", inventory, "--out", dir]);
    expect(p.code).toBe(2);
    expect(p.err).toContain("--name: profile kubelet is per host: --name HOST is needed");
    const w = await hakPki(["issue", "kubelet", "--name", "etcd1", "-i", inventory, "--out", dir]);
    expect(w.err).toContain("etcd1 has role etcd; kubelet is for controlplane/worker hosts");
    expect((await hakPki(["issue", "nope", "-i", inventory])).err).toContain('unknown profile "nope"');
    expect((await hakPki(["status"])).err).toContain("no inventory given");
    expect((await hakPki(["status", "-i", inventory], { VAULT_ADDR: undefined, BAO_ADDR: undefined })).code).toBe(2);
  });

  it("a Vault that does not answer is an operation failure (exit 1) with the address", async () => {
    const r = await hakPki(["status", "-i", inventory], { VAULT_ADDR: "http://127.0.0.1:9" });
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/127\.0\.0\.1:9.*no answer: ECONNREFUSED/);
  });
});
