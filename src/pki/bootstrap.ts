import { InputError } from "../common/errors.js";
import type { Inventory } from "../common/inventory.js";
import { formatDuration } from "../common/duration.js";
import { readCaCerts } from "./issued.js";
import type { VaultClient } from "../common/vault.js";
import { desiredState } from "./desired.js";
import { applyPlan, countActions, plan, type Plan, type PlanEntry } from "./reconcile.js";

export interface BootstrapOptions {
  dryRun?: boolean;
  /** File audit device path on the Vault server; none if undefined. */
  auditFile?: string;
  /** Addresses hosts use to reach Vault (issuing/CRL URLs); default: the inventory's, else the client's. */
  vaultAddresses?: string[];
  onStep?: (e: PlanEntry) => void;
  /** Use CEL roles for per-host roles with IP SANs; default: when the server is OpenBao >= 2.3. */
  cel?: boolean;
  /**
   * Set not_after_bound / not_before_bound on classic roles; default: when the
   * server has them (OpenBao >= 2.3.1). False gives the roles HashiCorp Vault
   * would get (no allowed_ip_sans_cidr either), which the attack suite uses
   * to show what is left open there.
   */
  boundedValidity?: boolean;
}

/**
 * Whether the server has OpenBao's CEL roles (pki/cel/roles, OpenBao >= 2.3).
 * Asked of the unauthenticated seal-status, so a dry run on an empty server
 * plans the same roles the real run creates. HashiCorp Vault is at 1.x.
 */
export async function serverHasCel(client: VaultClient): Promise<boolean> {
  return (await serverFeatures(client)).cel;
}

/** What the server offers beyond the API shared with HashiCorp Vault (1.x there, so neither). */
export async function serverFeatures(client: VaultClient): Promise<{ cel: boolean; boundedValidity: boolean; ipSansCidr: boolean }> {
  const s = await client.readBare<{ version?: string }>("sys/seal-status", { token: null });
  const m = /^(\d+)\.(\d+)\.(\d+)/.exec(s?.version ?? "");
  if (!m) return { cel: false, boundedValidity: false, ipSansCidr: false };
  const v = [Number(m[1]), Number(m[2]), Number(m[3])] as const;
  const atLeast = (a: number, b: number, c: number) => v[0] !== a ? v[0] > a : v[1] !== b ? v[1] > b : v[2] >= c;
  // CEL roles came in OpenBao 2.3.0, not_after_bound / not_before_bound in 2.3.1, allowed_ip_sans_cidr in 2.5.0.
  return { cel: atLeast(2, 3, 0), boundedValidity: atLeast(2, 3, 1), ipSansCidr: atLeast(2, 5, 0) };
}

/**
 * Reconciles Vault to the PKI the inventory needs. Idempotent: a second run
 * plans only "unchanged". With dryRun, reads and plans, changes nothing.
 */
export async function bootstrap(given: VaultClient, inv: Inventory, opts: BootstrapOptions = {}): Promise<Plan> {
  const active = await activeNode(given);
  try {
    return await reconcile(active ?? given, inv, opts);
  } finally {
    await active?.close();
  }
}

/**
 * In an HA cluster, a raft standby forwards writes but may not yet see what
 * was just written (a role made a moment ago answers 404 there), so the
 * reconciler, which reads its own writes, talks to the active node when it
 * can reach it. Undefined when the given address is already the active node,
 * or the active one is not reachable from here.
 */
async function activeNode(client: VaultClient): Promise<VaultClient | undefined> {
  const leader = await client.readBare<{ ha_enabled?: boolean; is_self?: boolean; leader_address?: string }>("sys/leader").catch(() => undefined);
  if (!leader?.ha_enabled || leader.is_self || !leader.leader_address) return undefined;
  const active = client.withAddresses([leader.leader_address]);
  const ok = await active.readBare("sys/leader").then(
    () => true,
    () => false,
  );
  if (ok) return active;
  await active.close();
  return undefined;
}

async function reconcile(client: VaultClient, inv: Inventory, opts: BootstrapOptions): Promise<Plan> {
  const features = await serverFeatures(client);
  await checkLeafTtlFitsCas(client, inv);
  const desired = desiredState(inv, {
    vaultAddresses: opts.vaultAddresses ?? inv.vault?.addresses ?? client.addresses,
    auditFile: opts.auditFile,
    cel: opts.cel ?? features.cel,
    boundedValidity: opts.boundedValidity ?? features.boundedValidity,
    ipSansCidr: opts.boundedValidity ?? features.ipSansCidr,
  });
  const entries = await plan(client, desired);
  const counts = countActions(entries);
  if (!opts.dryRun) await applyPlan(client, entries, opts.onStep);
  return { entries, counts, applied: !opts.dryRun };
}

/**
 * A leaf cannot outlive its CA: with leafTtl past a CA's remaining life,
 * Vault would cut every certificate short (or refuse), so this is bad input.
 */
async function checkLeafTtlFitsCas(client: VaultClient, inv: Inventory): Promise<void> {
  const now = Date.now();
  for (const ca of await readCaCerts(client)) {
    const left = Math.floor((ca.facts.notAfter.getTime() - now) / 1000);
    if (inv.leafTtl > left)
      throw new InputError(`leafTtl ${formatDuration(inv.leafTtl)} is longer than the ${ca.ca} CA has left (${formatDuration(Math.max(0, left))}, until ${ca.facts.notAfter.toISOString()})`, {
        where: "inventory leafTtl",
        fix: "shorten leafTtl, or rotate the CA first",
      });
  }
}
