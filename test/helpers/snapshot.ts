import type { VaultClient } from "../../src/common/vault.js";

/** Everything hak-pki touches, read back, to compare Vault before and after. */
export async function vaultSnapshot(c: VaultClient): Promise<Record<string, unknown>> {
  const snap: Record<string, unknown> = {};
  const mounts = (await c.request<Record<string, { type: string }>>("GET", "sys/mounts"))?.data ?? {};
  snap.mounts = Object.keys(mounts).sort();
  const auths = (await c.request<Record<string, { type: string }>>("GET", "sys/auth"))?.data ?? {};
  snap.auths = Object.keys(auths).sort();
  const policies = await c.list("sys/policies/acl");
  for (const p of policies) snap[`policy ${p}`] = (await c.read<{ policy: string }>(`sys/policies/acl/${p}`))?.policy;
  for (const m of ["pki-kubernetes", "pki-etcd", "pki-front-proxy", "pki-identity"]) {
    snap[`${m} issuers`] = await c.list(`${m}/issuers`);
    for (const r of await c.list(`${m}/roles`)) snap[`${m} role ${r}`] = await c.read(`${m}/roles/${r}`);
    snap[`${m} urls`] = await c.read(`${m}/config/urls`);
  }
  for (const r of await c.list("auth/approle/role")) snap[`approle ${r}`] = await c.read(`auth/approle/role/${r}`);
  for (const r of await c.list("auth/cert/certs")) snap[`cert ${r}`] = await c.read(`auth/cert/certs/${r}`);
  for (const e of await c.list("identity/entity/name")) {
    const d = await c.read<{ metadata: unknown; aliases: { name: string }[] }>(`identity/entity/name/${e}`);
    snap[`entity ${e}`] = { metadata: d?.metadata, aliases: d?.aliases?.map((a) => a.name).sort() };
  }
  snap.sa = await c.read("hak-kv/metadata/service-account");
  return snap;
}
