import type { Inventory } from "../common/inventory.js";
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
}

/**
 * Reconciles Vault to the PKI the inventory needs. Idempotent: a second run
 * plans only "unchanged". With dryRun, reads and plans, changes nothing.
 */
export async function bootstrap(client: VaultClient, inv: Inventory, opts: BootstrapOptions = {}): Promise<Plan> {
  const desired = desiredState(inv, {
    vaultAddresses: opts.vaultAddresses ?? inv.vault?.addresses ?? client.addresses,
    auditFile: opts.auditFile,
  });
  const entries = await plan(client, desired);
  const counts = countActions(entries);
  if (!opts.dryRun) await applyPlan(client, entries, opts.onStep);
  return { entries, counts, applied: !opts.dryRun };
}
