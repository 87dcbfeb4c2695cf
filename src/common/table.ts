import { formatDuration } from "./duration.js";

/** A plain text table with left-aligned columns, as kubeadm prints them. */
export function renderTable(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!)))
      .join("   ")
      .trimEnd();
  return [line(headers), ...rows.map(line)].join("\n");
}

/** "Dec 26, 2026 21:50 UTC", the way kubeadm shows expiry. */
export function formatExpiry(d: Date): string {
  const month = d.toLocaleString("en-US", { month: "short", timeZone: "UTC" });
  const hh = String(d.getUTCHours()).padStart(2, "0");
  const mm = String(d.getUTCMinutes()).padStart(2, "0");
  return `${month} ${String(d.getUTCDate()).padStart(2, "0")}, ${d.getUTCFullYear()} ${hh}:${mm} UTC`;
}

/** Residual time, coarse like kubeadm's ("29d", "9y", "3h", "<invalid>" once expired). */
export function formatResidual(ms: number): string {
  if (ms <= 0) return "<invalid>";
  const s = Math.floor(ms / 1000);
  if (s >= 365 * 86400) return `${Math.floor(s / (365 * 86400))}y`;
  if (s >= 86400) return `${Math.floor(s / 86400)}d`;
  return formatDuration(s).replace(/(\d+[hm]).*/, "$1");
}
