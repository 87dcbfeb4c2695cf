import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { InputError } from "../common/errors.js";
import type { Inventory } from "../common/inventory.js";
import { renderTable } from "../common/table.js";
import type { HostStatus } from "../cluster/units.js";

/**
 * `npm run demo -- status` and `logs`: what runs and where it logs, for a
 * person at the terminal. Pure over what the supervisors and procs.json say,
 * so the rendering is tested without a cluster.
 */

export interface DemoStatusRow {
  /** Host name, or "demo" for the demo's own processes (OpenBao, serve, the audit rotator). */
  host: string;
  unit: string;
  state: string;
  pid?: number;
  restarts: number;
  ok: boolean;
}

const UP = new Set(["running", "ready"]);

export function demoStatusRows(inv: Inventory, hosts: HostStatus[], procs: { name: string; pid: number; running: boolean }[]): DemoStatusRow[] {
  const rows: DemoStatusRow[] = [];
  for (const x of procs.filter((p) => !p.name.startsWith("host-"))) rows.push({ host: "demo", unit: x.name, state: x.running ? "running" : "not running", pid: x.pid, restarts: 0, ok: x.running });
  for (const h of inv.hosts) {
    const s = hosts.find((x) => x.host === h.name);
    if (!s) {
      rows.push({ host: h.name, unit: "(supervisor)", state: "not running", restarts: 0, ok: false });
      continue;
    }
    for (const u of s.units) {
      const restarts = u.restarts.requested + u.restarts.crashed + u.restarts.changed;
      rows.push({ host: h.name, unit: u.name, state: u.state, pid: u.pid, restarts, ok: UP.has(u.state) });
    }
  }
  return rows;
}

export function renderDemoStatus(rows: DemoStatusRow[]): string {
  const table = renderTable(
    ["HOST", "UNIT", "STATE", "PID", "RESTARTS"],
    rows.map((r) => [r.host, r.unit, r.ok ? r.state : `${r.state.toUpperCase()}`, r.pid === undefined ? "-" : String(r.pid), String(r.restarts)]),
  );
  const down = rows.filter((r) => !r.ok);
  const tail =
    rows.length === 0
      ? "nothing runs: `npm run demo` starts the local cluster\n"
      : down.length === 0
        ? `all ${rows.length} up. Logs: npm run demo -- logs HOST\n`
        : `${down.length} down: ${[...new Set(down.map((r) => r.host))].map((h) => `npm run demo -- logs ${h}`).join("; ")}; \`npm run demo\` starts what is missing\n`;
  return `${table}\n\n${tail}`;
}

/** The last `lines` lines of each of a host's log files, or (no host) the list of log files with their sizes. */
export function demoLogs(logDir: string, host: string | undefined, lines: number, projectRoot: string): string {
  const rel = (f: string) => relative(projectRoot, f) || f;
  if (!existsSync(logDir)) throw new InputError(`no logs yet: ${rel(logDir)} does not exist`, { fix: "npm run demo starts the local cluster" });
  const files = readdirSync(logDir)
    .filter((f) => f.endsWith(".log"))
    .sort();
  if (host === undefined) {
    const rows = files.map((f) => [f.replace(/\.log$/, ""), `${statSync(join(logDir, f)).size} B`, rel(join(logDir, f))]);
    return `${renderTable(["LOG", "SIZE", "FILE"], rows)}\n\nnpm run demo -- logs HOST shows the last lines of that host's logs\n`;
  }
  const mine = files.filter((f) => f.startsWith(`${host}-`));
  if (mine.length === 0) {
    throw new InputError(`no logs for host ${JSON.stringify(host)} in ${rel(logDir)}`, { where: "HOST", fix: "npm run demo -- logs (without a host) lists the log files" });
  }
  return mine
    .map((f) => {
      const text = readFileSync(join(logDir, f), "utf8").split("\n");
      if (text.at(-1) === "") text.pop();
      return `==> ${rel(join(logDir, f))} <==\n${text.slice(-lines).join("\n")}\n`;
    })
    .join("\n");
}
