/**
 * The fleet side at 100 / 1,000 / 10,000 hosts, against real OpenBao servers:
 * bootstrap (fresh, again, after growth), renewal of a fleet of agents beside
 * the server's raw signing rate, and serve's refresh with many stored
 * certificates. A script, not a test: it prints the figures of one run and
 * their ratios. Run: npm run bench:fleet
 *   FLEET_SIZES=100,1000,10000   bootstrap sizes
 *   FLEET_PARTS=bootstrap,renewal,serve
 *   RENEW_AGENTS=1000  SERVE_CERTS=10000 (certificates stored for serve; 100,000 is extrapolated)
 */
import { benchBootstrap, printBootstrap, type BootstrapFigures } from "./fleet-bootstrap.js";
import { benchRenewalAndServe, printRenewal } from "./fleet-renewal.js";

const sizes = (process.env.FLEET_SIZES ?? "100,1000,10000").split(",").map(Number);
const parts = new Set((process.env.FLEET_PARTS ?? "bootstrap,renewal,serve").split(","));

console.log(`bench:fleet on ${(await import("node:os")).cpus().length} cores, node ${process.version}`);
if (parts.has("bootstrap")) {
  const rows: BootstrapFigures[] = [];
  for (const n of sizes) {
    rows.push(await benchBootstrap(n));
    printBootstrap([rows.at(-1)!]);
  }
  if (rows.length > 1) printBootstrap(rows);
}
if (parts.has("renewal") || parts.has("serve")) {
  const r = await benchRenewalAndServe(Number(process.env.RENEW_AGENTS ?? 1000), parts.has("serve") ? Number(process.env.SERVE_CERTS ?? 10000) : 0);
  printRenewal(r);
}
