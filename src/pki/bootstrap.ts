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
  /** Use CEL roles for per-host roles with IP SANs; default: when the server is OpenBao >= 2.3. */
  cel?: boolean;
}

/**
 * Whether the server has OpenBao's CEL roles (pki/cel/roles, OpenBao >= 2.3).
 * Asked of the unauthenticated seal-status, so a dry run on an empty server
 * plans the same roles the real run creates. HashiCorp Vault is at 1.x.
 */
export async function serverHasCel(client: VaultClient): Promise<boolean> {
  const s = await client.request<never>("GET", "sys/seal-status", { token: null });
  const version = (s as unknown as { version?: string } | undefined)?.version ?? "";
  const m = /^(\d+)\.(\d+)/.exec(version);
  if (!m) return false;
  const [major, minor] = [Number(m[1]), Number(m[2])];
  return major > 2 || (major === 2 && minor >= 3);
}

/**
 * Reconciles Vault to the PKI the inventory needs. Idempotent: a second run
 * plans only "unchanged". With dryRun, reads and plans, changes nothing.
 */
export async function bootstrap(client: VaultClient, inv: Inventory, opts: BootstrapOptions = {}): Promise<Plan> {
  const desired = desiredState(inv, {
    vaultAddresses: opts.vaultAddresses ?? inv.vault?.addresses ?? client.addresses,
    auditFile: opts.auditFile,
    cel: opts.cel ?? (await serverHasCel(client)),
  });
  const entries = await plan(client, desired);
  const counts = countActions(entries);
  if (!opts.dryRun) await applyPlan(client, entries, opts.onStep);
  return { entries, counts, applied: !opts.dryRun };
}
