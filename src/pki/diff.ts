import { formatDuration } from "../common/duration.js";

/**
 * Compares the fields hak owns with what Vault reads back. Pure. Vault
 * normalises on write (durations to seconds, empty lists to null, lists in
 * its own order), so both sides are normalised before comparing; fields Vault
 * has and hak does not set are not compared.
 */

export interface FieldDiff {
  field: string;
  from: unknown;
  to: unknown;
}

const DURATION = /^(\d+[smhd])+$/;
const UNIT: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400 };

function durationSeconds(s: string): number {
  let total = 0;
  for (const m of s.matchAll(/(\d+)([smhd])/g)) total += Number(m[1]) * UNIT[m[2]!]!;
  return total;
}

export function normalize(v: unknown): unknown {
  if (v === null || v === undefined || v === "") return undefined;
  if (typeof v === "string") return DURATION.test(v) ? durationSeconds(v) : v.trim();
  if (Array.isArray(v)) {
    if (v.length === 0) return undefined;
    return v.map(normalize).sort((a, b) => (JSON.stringify(a) < JSON.stringify(b) ? -1 : 1));
  }
  if (typeof v === "object") {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
      const n = normalize(x);
      if (n !== undefined) out[k] = n;
    }
    return Object.keys(out).length === 0 ? undefined : out;
  }
  return v;
}

function sameValue(desired: unknown, actual: unknown): boolean {
  const d = normalize(desired);
  const a = normalize(actual);
  if (d === undefined || a === undefined) return d === a;
  if (typeof d === "object" && typeof a === "object" && !Array.isArray(d) && !Array.isArray(a)) {
    // Nested maps (entity metadata, mount options): the keys hak sets must match; others are someone else's.
    return Object.entries(d as Record<string, unknown>).every(([k, v]) => sameValue(v, (a as Record<string, unknown>)[k]));
  }
  return JSON.stringify(d) === JSON.stringify(a);
}

/** The fields whose desired value differs from Vault's. */
export function diffFields(desired: Record<string, unknown>, actual: Record<string, unknown>): FieldDiff[] {
  const out: FieldDiff[] = [];
  for (const [field, to] of Object.entries(desired)) {
    const from = actual[field];
    if (!sameValue(to, from)) out.push({ field, from, to });
  }
  return out;
}

/** Fields that hold a lifetime: shown as "30d", not 2592000. */
const DURATION_FIELD = /(^|_)(ttl|duration|period|interval|max_age)$/;

/** How much of a long value is shown around where the two sides start and stop differing. */
const CONTEXT = 24;
const SHORT = 80;

function showValue(field: string, v: unknown): string {
  const n = normalize(v);
  if (DURATION_FIELD.test(field) && typeof n === "number") return formatDuration(n);
  return JSON.stringify(v ?? null);
}

/**
 * The part of two long texts that differs, with a little context on each
 * side: "…duration(\"300s\")…" -> "…duration(\"2592000s\")…". Two CEL
 * programs that differ in one literal no longer print as the same 77
 * characters.
 */
export function differingWindow(a: string, b: string, context = CONTEXT): [string, string] {
  let p = 0;
  while (p < a.length && p < b.length && a[p] === b[p]) p++;
  let q = 0;
  while (q < a.length - p && q < b.length - p && a[a.length - 1 - q] === b[b.length - 1 - q]) q++;
  const cut = (s: string) => {
    const start = Math.max(0, p - context);
    const end = Math.min(s.length, s.length - q + context);
    return `${start > 0 ? "…" : ""}${s.slice(start, end)}${end < s.length ? "…" : ""}`;
  };
  return [cut(a), cut(b)];
}

/**
 * One plan line: "ttl: 5m -> 30d", "allowed_domains: + evil.example", or
 * the differing part of two long values. Durations read as durations; lists
 * say what was added and removed; nothing is cut where the change is.
 */
export function describeDiff(d: FieldDiff): string {
  const from = showValue(d.field, d.from);
  const to = showValue(d.field, d.to);
  if (from.length + to.length <= SHORT * 2 && from.length <= SHORT && to.length <= SHORT) return `${d.field}: ${from} -> ${to}`;
  const a = normalize(d.from);
  const b = normalize(d.to);
  const list = (x: unknown) => (Array.isArray(x) ? x : x === undefined ? [] : undefined);
  const la = list(a);
  const lb = list(b);
  if (la && lb && [...la, ...lb].every((x) => typeof x !== "object")) {
    const key = (x: unknown) => JSON.stringify(x);
    const added = lb.filter((x) => !la.some((y) => key(y) === key(x)));
    const removed = la.filter((x) => !lb.some((y) => key(y) === key(x)));
    const parts = [...added.map((x) => `+ ${String(x)}`), ...removed.map((x) => `- ${String(x)}`)];
    return `${d.field}: ${parts.join(", ")} (${la.length} -> ${lb.length} entries)`;
  }
  const [wa, wb] = differingWindow(from, to);
  return `${d.field}: ${wa} -> ${wb}`;
}
