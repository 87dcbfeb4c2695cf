import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { findHost } from "../../src/common/inventory.js";
import type { LocalBao } from "../../src/common/localbao.js";
import { approleRoleId, holderUri } from "../../src/common/names.js";
import { requestSpec } from "../../src/common/profiles.js";
import { signCsr } from "../../src/common/sign.js";
import { VaultClient, VaultError } from "../../src/common/vault.js";
import { createCsr, generateKeyPair } from "../../src/common/x509.js";
import { bootstrap } from "../../src/pki/bootstrap.js";
import { listIssued } from "../../src/pki/issued.js";
import { computeFleet } from "../../src/pki/serve/fleet.js";
import { devBao } from "../helpers/bao.js";
import { loopbackInventory } from "../helpers/inventory.js";

/**
 * Shared profiles per holder, against a real OpenBao: a worker's agent puts
 * its own holder URI into its kube-proxy CSR; the shared role lets it name
 * itself and no other host (allowed_uri_sans_template on the token's
 * identity); serve reads the name back and shows the holder's own state.
 */

const inv = loopbackInventory({
  name: "holders",
  net: 174,
  hosts: [
    ["etcd1", "etcd"],
    ["cp1", "controlplane"],
    ["w1", "worker"],
    ["w2", "worker"],
  ],
});

describe("shared profiles name their holder", () => {
  let bao: LocalBao;
  let root: VaultClient;
  const clients: VaultClient[] = [];

  async function login(host: string): Promise<VaultClient> {
    const sid = await root.write<{ secret_id: string }>(`auth/approle/role/${host}/secret-id`, {});
    const c = new VaultClient({ addresses: [bao.address], localAddress: findHost(inv, host)!.address });
    clients.push(c);
    const r = await c.write("auth/approle/login", { role_id: approleRoleId(inv.name, host), secret_id: sid!.data!.secret_id }, { token: null });
    c.token = r!.auth!.client_token;
    return c;
  }

  async function signKubeProxy(c: VaultClient, uri: string[]) {
    const spec = requestSpec(inv, "kube-proxy", undefined);
    const csr = await createCsr(await generateKeyPair("ec"), { commonName: spec.commonName, dns: spec.dns, ip: spec.ip, uri });
    return signCsr(c, { profile: "kube-proxy", csrPem: csr, commonName: spec.commonName });
  }

  beforeAll(async () => {
    bao = await devBao();
    root = bao.client();
    await bootstrap(root, inv);
  });

  afterAll(async () => {
    for (const c of clients) await c.close();
    await root?.close();
    await bao?.stop();
  });

  it("a host may name itself and nobody else; serve then shows each holder", async () => {
    const w1 = await login("w1");
    await signKubeProxy(w1, [holderUri("w1")]);
    const err = await signKubeProxy(w1, [holderUri("w2")]).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(VaultError);
    expect((err as VaultError).status).toBe(400);
    // Without a name it is still signed (an older agent): it lands in the pool.
    await signKubeProxy(w1, []);

    const issued = await listIssued(root, new Set(inv.hosts.map((h) => h.name)));
    const kp = issued.filter((c) => c.profile === "kube-proxy");
    expect(kp.map((c) => c.host ?? "-").sort()).toEqual(["-", "w1"]);
    const fleet = computeFleet(inv, issued, new Date());
    const byId = new Map(fleet.map((e) => [e.id, e]));
    expect(byId.get("w1/kube-proxy")?.state).toBe("ok");
    // cp1 (a node too) and w2 never named themselves; the one anonymous certificate stands for them in a pool of two.
    expect(byId.get("shared:controlplane/kube-proxy")).toMatchObject({ holder: { hosts: ["cp1", "w2"] }, current: 1, needed: 2 });
  });
});
