import type { Inventory } from "../../common/inventory.js";
import type { VaultClient } from "../../common/vault.js";
import { bootstrap } from "../bootstrap.js";
import { describeDiff } from "../diff.js";
import type { Action, PlanEntry } from "../reconcile.js";

/**
 * Drift: what `hak-pki bootstrap` would change if it ran now: its own dry
 * run (one differ, not two, with the same defaults), never applied; serve
 * runs with the auditor token, which could not apply it anyway.
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
  /** The addresses bootstrap wrote into issuing/CRL URLs; default: bootstrap's. */
  vaultAddresses?: string[];
  /** The audit file bootstrap was given, if any. */
  auditFile?: string;
}

export async function checkDrift(client: VaultClient, inv: Inventory, opts: DriftOptions, now: Date): Promise<DriftReport> {
  const { entries } = await bootstrap(client, inv, { dryRun: true, vaultAddresses: opts.vaultAddresses, auditFile: opts.auditFile });
  return { checkedAt: now.toISOString(), items: driftItems(entries), compared: entries.length };
}
