import { HakError } from "../../common/errors.js";
import { policyName } from "../../common/names.js";
import type { VaultClient } from "../../common/vault.js";

/**
 * The token `hak-pki serve` runs with: the auditor policy only (read and
 * list, no create/update/sudo; plus Vault's default self-service policy), orphan so it outlives the operator's token,
 * periodic so a running serve keeps it alive by renewing and it dies within
 * one period once serve stops.
 */
export async function createAuditorToken(operator: VaultClient, opts: { period?: string; displayName?: string } = {}): Promise<string> {
  const res = await operator.write("auth/token/create-orphan", {
    policies: [policyName("auditor")],
    // The default policy adds only self-service (lookup/renew/revoke-self, its own cubbyhole): serve renews itself.
    no_default_policy: false,
    period: opts.period ?? "24h",
    renewable: true,
    display_name: opts.displayName ?? "hak-pki-serve",
  });
  const token = res?.auth?.client_token;
  if (!token) throw new HakError("Vault created no token", { where: "auth/token/create-orphan" });
  return token;
}

/** Keeps a periodic token alive; a failure is logged by the caller and retried next time. */
export async function renewSelf(client: VaultClient): Promise<void> {
  await client.write("auth/token/renew-self", {});
}
