import type { Inventory } from "../../common/inventory.js";
import type { VaultClient } from "../../common/vault.js";
import { desiredState } from "../desired.js";
import { describeDiff } from "../diff.js";
import { plan, type Action, type PlanEntry } from "../reconcile.js";

/**
 * Drift: what `hak-pki bootstrap` would change if it ran now. The plan is the
 * reconciler's own (one differ, not two); serve only reads it, never applies
 * it, and runs with the auditor token, which could not apply it anyway.
 */

export interface DriftItem {
  id: string;
  kind: PlanEntry["kind"];
  /** What bootstrap would do to bring Vault back: create, update or delete. */
  action: Exclude<Action, "unchanged">;
  host?: string;
  /** "field: vault's value -> desired value", one per differing field. */
  changes: string[];
}

export interface DriftReport {
  checkedAt: string;
  items: DriftItem[];
  /** Objects compared in all (drifted or not). */
  compared: number;
}

export function driftItems(entries: readonly PlanEntry[]): DriftItem[] {
  return entries
    .filter((e): e is PlanEntry & { action: DriftItem["action"] } => e.action !== "unchanged")
    .map((e) => ({
      id: e.id,
      kind: e.kind,
      action: e.action,
      ...(e.host ? { host: e.host } : {}),
      changes: e.diffs.map(describeDiff),
    }));
}

export interface DriftOptions {
  /** The addresses bootstrap wrote into issuing/CRL URLs; default as bootstrap's. */
  vaultAddresses?: string[];
  /** The audit file bootstrap was given, if any. */
  auditFile?: string;
}

export async function checkDrift(client: VaultClient, inv: Inventory, opts: DriftOptions, now: Date): Promise<DriftReport> {
  const desired = desiredState(inv, {
    vaultAddresses: opts.vaultAddresses ?? inv.vault?.addresses ?? client.addresses,
    auditFile: opts.auditFile,
  });
  const entries = await plan(client, desired);
  return { checkedAt: now.toISOString(), items: driftItems(entries), compared: entries.length };
}
