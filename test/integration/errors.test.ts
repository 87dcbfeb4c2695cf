import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { ensureServerTls } from "../../src/common/localbao.js";
import { main } from "../../src/pki/cli.js";
import { realBao } from "../helpers/bao.js";

/**
 * The errors a newcomer meets first (issue 13), each against a real OpenBao
 * with TLS (vault-dev.hcl): what went wrong and what to do, never Vault's or
 * Node's or zod's raw words alone.
 */

let bao: Awaited<ReturnType<typeof realBao>>;
const dir = mkdtempSync(join(tmpdir(), "hak-errors-"));
const inventory = "examples/demo-cluster.yaml";

async function hakPki(args: string[], env: Record<string, string | undefined>): Promise<{ code: number; err: string }> {
  let err = "";
  const o = vi.spyOn(process.stdout, "write").mockImplementation(() => true);
  const e = vi.spyOn(process.stderr, "write").mockImplementation((s) => ((err += String(s)), true));
  const saved = { ...process.env };
  const base = { VAULT_ADDR: bao.address, VAULT_CACERT: bao.caFile, VAULT_TOKEN: bao.rootToken, HAK_INVENTORY: undefined, BAO_ADDR: undefined, BAO_CACERT: undefined, BAO_TOKEN: undefined };
  for (const [k, v] of Object.entries({ ...base, ...env })) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
  try {
    return { code: await main(args), err };
  } finally {
    process.env = saved;
    o.mockRestore();
    e.mockRestore();
  }
}

beforeAll(async () => {
  bao = await realBao();
}, 90_000);
afterAll(async () => {
  await bao?.cleanup();
  rmSync(dir, { recursive: true, force: true });
});

describe("errors with their cause and fix", () => {
  it("an expired token is told apart from a forbidden one (Vault says 'permission denied' to both)", async () => {
    const root = bao.client();
    const short = await root.write<never>("auth/token/create", { policies: ["default"], ttl: "1s", explicit_max_ttl: "1s" });
    const weak = await root.write<never>("auth/token/create", { policies: ["default"], ttl: "1h" });
    await root.close();
    await sleep(2500);
    const expired = await hakPki(["status", "-i", inventory], { VAULT_TOKEN: short!.auth!.client_token });
    expect(expired.code).toBe(1);
    expect(expired.err).toMatch(/the token is not valid: expired, revoked, or never issued/);
    expect(expired.err).toMatch(/fix: get a new token/);
    expect(expired.err).not.toMatch(/permission denied: permission denied/);
    const forbidden = await hakPki(["status", "-i", inventory], { VAULT_TOKEN: weak!.auth!.client_token });
    expect(forbidden.code).toBe(1);
    expect(forbidden.err).toMatch(/permission denied: the token \(policies: default\) may not do this/);
    expect(forbidden.err).toMatch(/fix: use a token whose policy allows this path/);
  });

  it("http:// for an https server: use https://", async () => {
    const http = bao.address.replace(/^https:/, "http:");
    const r = await hakPki(["status", "-i", inventory], { VAULT_ADDR: http });
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/the server speaks HTTPS, but the address says http:\/\//);
    expect(r.err).toContain(`fix: use https://: ${bao.address}`);
    expect(r.err).not.toMatch(/starts with/);
  });

  it("no CA given: names VAULT_CACERT; the wrong CA: names the file given", async () => {
    const none = await hakPki(["status", "-i", inventory], { VAULT_CACERT: undefined });
    expect(none.code).toBe(1);
    expect(none.err).toMatch(/not signed by a CA this client trusts \((UNABLE_TO_VERIFY_LEAF_SIGNATURE|SELF_SIGNED_CERT_IN_CHAIN|DEPTH_ZERO_SELF_SIGNED_CERT)\)/);
    expect(none.err).toMatch(/fix: name the CA .*VAULT_CACERT=FILE or pass --vault-cacert FILE/);
    const other = await ensureServerTls(join(dir, "other-tls"));
    const wrong = await hakPki(["status", "-i", inventory, "--vault-cacert", other.caFile], {});
    expect(wrong.code).toBe(1);
    expect(wrong.err).toContain(`--vault-cacert=${other.caFile} is not the CA that signed`);
  });

  it("a missing CA file is bad input naming the file and the variable", async () => {
    const r = await hakPki(["status", "-i", inventory], { VAULT_CACERT: join(dir, "nope.crt") });
    expect(r.code).toBe(2);
    expect(r.err).toContain(`cannot read the Vault CA certificate "${join(dir, "nope.crt")}" (given by VAULT_CACERT): no such file`);
    writeFileSync(join(dir, "empty.crt"), "hello\n");
    const garbage = await hakPki(["status", "-i", inventory], { VAULT_CACERT: join(dir, "empty.crt") });
    expect(garbage.code).toBe(2);
    expect(garbage.err).toMatch(/holds no PEM certificate/);
  });

  it("-i nope.yaml names the file that was passed, without telling to pass one", async () => {
    const r = await hakPki(["status", "-i", "nope.yaml"], {});
    expect(r.code).toBe(2);
    expect(r.err).toContain('cannot read the inventory "nope.yaml" (given by --inventory): no such file');
    expect(r.err).not.toMatch(/pass --inventory/);
    const env = await hakPki(["status"], { HAK_INVENTORY: "nope.yaml" });
    expect(env.err).toContain("(given by HAK_INVENTORY)");
  });

  it("an unknown field is named at its path, in hak's words", async () => {
    const file = join(dir, "typo.yaml");
    writeFileSync(file, "name: t\nhostDomain: k8s.local\napiVip: 10.0.0.10\nserviceCidr: 10.32.0.0/24\npodCidr: 10.200.0.0/16\nleafTTL: 1h\nhosts:\n  - { name: etcd1, role: etcd, address: 10.0.0.11, zone: a }\n  - { name: cp1, role: controlplane, address: 10.0.0.21 }\n");
    const r = await hakPki(["status", "-i", file], {});
    expect(r.code).toBe(2);
    expect(r.err).toContain('leafTTL: unknown field "leafTTL"');
    expect(r.err).toContain('hosts[0].zone: unknown field "zone" in hosts[0]');
    expect(r.err).not.toMatch(/Unrecognized key|^: /m);
  });
});
