import type { AgentConfigInput } from "../agent/config.js";
import type { HostPlan } from "./schema.js";

/**
 * A plan moved under another root, for consumers that run many hosts on one
 * machine (the local cluster, the demo): every absolute path that starts
 * with one of the plan's pathRoots, wherever it appears (agent config,
 * command lines, config file contents, readiness checks), gets `root` in
 * front. Pure; the plan itself is untouched. Paths outside pathRoots (a
 * Vault CA file the caller passed in) are left alone.
 */

export interface RelocateOptions {
  /** Owner and group for every agent output (the user running the local cluster instead of etcd/kubernetes). */
  owner?: number | string;
  group?: number | string;
  /** Drop the agent's actions (a consumer that runs none of the units they name). */
  dropActions?: boolean;
}

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/** Characters a path continues with: a root counts only where it ends ("/etc/hak" is not in "/etc/hakx"). */
const PATH_CHAR = "A-Za-z0-9_.\\-";

/** Moves every occurrence of a root (not inside a longer name) under `root`. */
export function pathMapper(roots: readonly string[], root: string): (s: string) => string {
  const base = root.replace(/\/+$/, "");
  // Longest first, so /var/lib/hak-agent wins over a shorter root it starts with.
  const alternatives = [...roots].sort((a, b) => b.length - a.length).map(escape).join("|");
  const re = new RegExp(`(?<![${PATH_CHAR}])(${alternatives})(?![${PATH_CHAR}])`, "g");
  return (s) => s.replace(re, (path: string) => `${base}${path}`);
}

function mapStrings<T>(v: T, f: (s: string) => string): T {
  if (typeof v === "string") return f(v) as T;
  if (Array.isArray(v)) return v.map((x) => mapStrings(x, f)) as T;
  if (v && typeof v === "object") return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, mapStrings(x, f)])) as T;
  return v;
}

export function relocatePlan(plan: HostPlan, root: string, opts: RelocateOptions = {}): HostPlan {
  const f = pathMapper(plan.pathRoots, root);
  const moved = mapStrings({ ...plan, pathRoots: [] as string[] }, f);
  const agent: AgentConfigInput = {
    ...moved.agent,
    outputs: moved.agent.outputs.map((o) => ({
      ...o,
      ...(opts.owner !== undefined ? { owner: opts.owner } : {}),
      ...(opts.group !== undefined ? { group: opts.group } : {}),
      ...(opts.dropActions ? { actions: [] } : {}),
    })),
  };
  return { ...moved, agent, pathRoots: plan.pathRoots.map((p) => `${root.replace(/\/+$/, "")}${p}`) };
}
