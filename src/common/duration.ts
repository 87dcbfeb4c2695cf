import { z } from "zod";

const UNITS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400 };

/**
 * Parses a duration as Vault writes them ("90s", "15m", "720h", "1h30m") plus
 * days ("30d"), or a bare number of seconds. Returns seconds, or undefined
 * when the text is not a duration.
 */
export function parseDuration(text: string | number): number | undefined {
  if (typeof text === "number") return Number.isInteger(text) && text >= 0 ? text : undefined;
  const s = text.trim();
  if (/^\d+$/.test(s)) return Number(s);
  const re = /(\d+)([smhd])/gy;
  let total = 0;
  let consumed = 0;
  for (const m of s.matchAll(re)) {
    total += Number(m[1]) * UNITS[m[2]!]!;
    consumed += m[0].length;
  }
  return consumed === s.length && consumed > 0 ? total : undefined;
}

/** Seconds as the shortest readable duration: 2592000 -> "30d", 5400 -> "1h30m". */
export function formatDuration(seconds: number): string {
  const neg = seconds < 0;
  let rest = Math.abs(Math.round(seconds));
  if (rest === 0) return "0s";
  const parts: string[] = [];
  for (const [unit, size] of [["d", 86400], ["h", 3600], ["m", 60], ["s", 1]] as const) {
    if (rest >= size) {
      parts.push(`${Math.floor(rest / size)}${unit}`);
      rest %= size;
    }
  }
  return (neg ? "-" : "") + parts.join("");
}

/** A zod field that accepts a duration string or seconds and yields seconds. */
export const durationSchema = z.union([z.string(), z.number()]).transform((v, ctx) => {
  const s = parseDuration(v);
  if (s === undefined) {
    ctx.addIssue({ code: z.ZodIssueCode.custom, message: `not a duration: ${JSON.stringify(v)} (use e.g. "90s", "15m", "720h", "30d")` });
    return z.NEVER;
  }
  return s;
});
