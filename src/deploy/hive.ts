import { existsSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import { writeFileAtomic } from "../common/fsutil.js";
import type { Inventory } from "../common/inventory.js";
import { lineDiff } from "./textdiff.js";

/**
 * The hive's input on the Nix side: the normalised inventory as JSON, read by
 * the flake with builtins.fromJSON (see /work/notes/nix-deploy-contract.md,
 * §1): the zod output (defaults applied, optional keys absent), hosts in the
 * file's order, 2-space JSON with a final newline. The flake builds the
 * Colmena hive from it, so this is the only file `hak-deploy hive` writes.
 */

export const HIVE_INVENTORY = join("hive", "inventory.json");

export interface HiveFile {
  /** Relative to the flake folder. */
  path: string;
  content: string;
}

export function hiveFiles(inv: Inventory): HiveFile[] {
  return [{ path: HIVE_INVENTORY, content: `${JSON.stringify(inv, null, 2)}\n` }];
}

export interface HiveFileState {
  path: string;
  state: "current" | "changed" | "missing";
  /** For changed or missing files: what would change, as a line diff. */
  diff?: string;
}

/** Compares the hive files in `dir` with what the inventory gives; writes nothing. */
export function checkHive(dir: string, inv: Inventory): HiveFileState[] {
  return hiveFiles(inv).map((f) => {
    const full = join(dir, f.path);
    if (!existsSync(full)) return { path: f.path, state: "missing", diff: lineDiff("", f.content) };
    const onDisk = readFileSync(full, "utf8");
    return onDisk === f.content ? { path: f.path, state: "current" } : { path: f.path, state: "changed", diff: lineDiff(onDisk, f.content) };
  });
}

/** Writes the files that are not current (atomically, 0644: nothing in them is secret). */
export function writeHive(dir: string, inv: Inventory): HiveFileState[] {
  const states = checkHive(dir, inv);
  for (const f of hiveFiles(inv)) {
    if (states.find((s) => s.path === f.path)?.state !== "current") writeFileAtomic(join(dir, f.path), f.content, { mode: 0o644 });
  }
  return states;
}

/** "hive/inventory.json is not current ... run hak-deploy hive": for --check and apply. */
export function renderHiveStates(dir: string, states: HiveFileState[]): string {
  return states
    .map((s) => {
      const shown = relative(process.cwd(), join(dir, s.path)) || s.path;
      if (s.state === "current") return `${shown}: current`;
      return `${shown}: ${s.state === "missing" ? "missing" : "not current (- on disk, + from the inventory)"}\n${s.diff}`;
    })
    .join("\n");
}
