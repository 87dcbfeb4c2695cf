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

/** "allowed_domains: [a] -> [a, b]" for a plan line; long values are shortened. */
export function describeDiff(d: FieldDiff): string {
  const show = (v: unknown) => {
    const s = JSON.stringify(v ?? null);
    return s.length > 80 ? `${s.slice(0, 77)}...` : s;
  };
  return `${d.field}: ${show(d.from)} -> ${show(d.to)}`;
}
