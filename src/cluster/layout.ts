import { join } from "node:path";
import type { HostPlan, PlanService } from "../plan/index.js";

/**
 * Pure: a host plan as the local cluster runs it. Every absolute path of
 * the plan starts with one of plan.pathRoots; the local cluster puts it
 * under the host's folder (hosts/<host>/var/lib/kubelet, ...) by rewriting
 * that prefix wherever it appears (arguments, environment, file contents,
 * the agent config). Programs are names; the caller maps them to binaries.
 */

/** Characters a path can continue with: the prefix must end there to count ("/etc/hak" is not "/etc/hakx"). */
const PATH_CHAR = "A-Za-z0-9_.\\-";

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

export interface PathMapper {
  root: string;
  /** One path or any text: every occurrence of a plan path root is moved under `root`. */
  map(text: string): string;
}

export function pathMapper(hostRoot: string, roots: readonly string[]): PathMapper {
  // Longest first, so /var/lib/hak-agent wins over a shorter root it starts with.
  const sorted = [...roots].sort((a, b) => b.length - a.length);
  const re = new RegExp(`(?<![${PATH_CHAR}])(${sorted.map(escapeRe).join("|")})(?![${PATH_CHAR}])`, "g");
  return {
    root: hostRoot,
    map: (text) => text.replace(re, (m) => join(hostRoot, m)),
  };
}

/** Deep copy of JSON data with every string mapped. */
export function mapDeep<T>(value: T, m: PathMapper): T {
  if (typeof value === "string") return m.map(value) as T;
  if (Array.isArray(value)) return value.map((v: unknown) => mapDeep(v, m)) as T;
  if (value && typeof value === "object") return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, mapDeep(v, m)])) as T;
  return value;
}

export interface MappedService {
  service: PlanService;
  argv: string[];
  env: Record<string, string>;
}

/** A service's command line with its program resolved and its paths mapped. */
export function mapService(s: PlanService, m: PathMapper, program: (name: string) => string[]): MappedService {
  return {
    service: s,
    argv: [...program(s.program), ...s.args.map((a) => m.map(a))],
    env: Object.fromEntries(Object.entries(s.env ?? {}).map(([k, v]) => [k, m.map(v)])),
  };
}

/** Every file and directory of the plan, mapped, for the caller to write. */
export function mappedFiles(plan: HostPlan, m: PathMapper): { files: { path: string; content: string; mode: number }[]; directories: { path: string; mode: number }[] } {
  return {
    files: plan.files.map((f) => ({ path: m.map(f.path), content: m.map(f.content), mode: Number.parseInt(f.mode, 8) })),
    directories: plan.directories.map((d) => ({ path: m.map(d.path), mode: Number.parseInt(d.mode, 8) })),
  };
}
