import { existsSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { join, relative } from "node:path";
import { writeFileAtomic } from "../common/fsutil.js";
import type { Inventory } from "../common/inventory.js";
import { allHostPlans, clusterPlan, manifestsYaml, type PlanOptionsInput } from "../plan/index.js";
import { lineDiff } from "./textdiff.js";

/**
 * The hive's input on the Nix side, read by the flake with builtins.fromJSON:
 * the normalised inventory (the zod output: defaults applied, optional keys
 * absent, hosts in the file's order), one plan per host (hive/plans/<host>.json,
 * src/plan: everything the host runs) and the cluster plan with the RBAC
 * objects hak applies (also as hive/manifests.yaml, for kubectl apply).
 * 2-space JSON with a final newline, so a file is current exactly when its
 * bytes are what the inventory gives.
 */

export const HIVE_INVENTORY = join("hive", "inventory.json");
export const HIVE_PLANS = join("hive", "plans");
/** Beside plans/, not in it: a host may be named "cluster". */
export const HIVE_CLUSTER_PLAN = join("hive", "cluster.json");
export const HIVE_MANIFESTS = join("hive", "manifests.yaml");

export function hivePlanPath(host: string): string {
  return join(HIVE_PLANS, `${host}.json`);
}

export interface HiveFile {
  /** Relative to the flake folder. */
  path: string;
  content: string;
}

const json = (v: unknown) => `${JSON.stringify(v, null, 2)}\n`;

export function hiveFiles(inv: Inventory, planOptions?: PlanOptionsInput): HiveFile[] {
  const cluster = clusterPlan(inv, planOptions);
  return [
    { path: HIVE_INVENTORY, content: json(inv) },
    ...allHostPlans(inv, planOptions).map((p) => ({ path: hivePlanPath(p.host.name), content: json(p) })),
    { path: HIVE_CLUSTER_PLAN, content: json(cluster) },
    { path: HIVE_MANIFESTS, content: `# The cluster plan's manifests (hak-deploy hive); apply once the first apiserver answers.\n${manifestsYaml(cluster)}` },
  ];
}

export interface HiveFileState {
  path: string;
  /** "extra": a plan in hive/plans/ for no host of the inventory (the flake would still deploy it). */
  state: "current" | "changed" | "missing" | "extra";
  /** For changed or missing files: what would change, as a line diff. */
  diff?: string;
}

/** Compares the hive files in `dir` with what the inventory gives; writes nothing. */
export function checkHive(dir: string, inv: Inventory, planOptions?: PlanOptionsInput): HiveFileState[] {
  const files = hiveFiles(inv, planOptions);
  const states: HiveFileState[] = files.map((f) => {
    const full = join(dir, f.path);
    if (!existsSync(full)) return { path: f.path, state: "missing", diff: lineDiff("", f.content) };
    const onDisk = readFileSync(full, "utf8");
    return onDisk === f.content ? { path: f.path, state: "current" } : { path: f.path, state: "changed", diff: lineDiff(onDisk, f.content) };
  });
  // The flake reads every file of hive/plans/: one left from a removed host is a host still deployed.
  const plansDir = join(dir, HIVE_PLANS);
  const wanted = new Set(files.map((f) => f.path));
  if (existsSync(plansDir))
    for (const name of readdirSync(plansDir).sort()) {
      const path = join(HIVE_PLANS, name);
      if (!wanted.has(path)) states.push({ path, state: "extra" });
    }
  return states;
}

/** Writes the files that are not current (atomically, 0644: nothing in them is secret). */
export function writeHive(dir: string, inv: Inventory, planOptions?: PlanOptionsInput): HiveFileState[] {
  const files = hiveFiles(inv, planOptions);
  const states = checkHive(dir, inv, planOptions);
  for (const f of files) {
    if (states.find((s) => s.path === f.path)?.state !== "current") writeFileAtomic(join(dir, f.path), f.content, { mode: 0o644 });
  }
  for (const s of states) if (s.state === "extra") rmSync(join(dir, s.path), { force: true });
  return states;
}

/** "hive/inventory.json is not current ... run hak-deploy hive": for --check and apply. */
export function renderHiveStates(dir: string, states: HiveFileState[]): string {
  return states
    .map((s) => {
      const shown = relative(process.cwd(), join(dir, s.path)) || s.path;
      if (s.state === "current") return `${shown}: current`;
      if (s.state === "extra") return `${shown}: no such host in the inventory (hak-deploy hive removes it)`;
      return `${shown}: ${s.state === "missing" ? "missing" : "not current (- on disk, + from the inventory)"}\n${s.diff}`;
    })
    .join("\n");
}
