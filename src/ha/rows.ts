import { HakError } from "../common/errors.js";
import type { LbLab } from "./lab.js";
import { Prober, summarize, type PhaseSummary, type Sample } from "./probe.js";

/**
 * The load-balancer rows of issue 12's failure table, run on the lab
 * (src/ha/lab.ts) with a client calling through the virtual IP every 100 ms:
 * inject the failure, watch for a fixed window, restore, watch again. The
 * test (test/ha/lb.test.ts) holds each row to its bounds; the benchmark
 * (bench/ha.ts) prints the same figures.
 */

export const LB_ROW_IDS = ["lb-host", "lb-haproxy", "apiserver-backend"] as const;
export type LbRowId = (typeof LB_ROW_IDS)[number];

export const LB_ROW_TITLES: Record<LbRowId, string> = {
  "lb-host": "load balancer host (master): SIGKILL keepalived + haproxy, link down",
  "lb-haproxy": "haproxy alone on the master (SIGKILL)",
  "apiserver-backend": "one apiserver backend down (SIGKILL; stand-in apiserver)",
};

export interface Phase {
  summary: PhaseSummary;
  /** Every change of the VIP's holders in the phase: ms after the phase started, and who held it then. */
  vipChanges: { atMs: number; holders: string[] }[];
  /** Load balancers holding the VIP (address on eth0, link up) at the end of the phase. */
  vipAfter: string[];
}

export interface LbRowResult {
  id: LbRowId;
  failure: string;
  baseline: PhaseSummary;
  fault: Phase;
  restore: Phase;
  /** Who held the VIP before the failure. */
  vipBefore: string[];
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface RowOptions {
  /** How long each phase is watched (ms): longer than every detection + recovery path the configs allow. */
  windowMs?: number;
  baselineMs?: number;
}

export async function runLbRow(lab: LbLab, id: LbRowId, o: RowOptions = {}): Promise<LbRowResult> {
  const windowMs = o.windowMs ?? 12_000;
  const baselineMs = o.baselineMs ?? 1_500;
  const [master] = lab.loadBalancers.map((h) => h.name);
  const backend = lab.backends[0]!.name;
  // Steady state: the VIP on the master for 6 s, past keepalived's second
  // round of gratuitous ARPs (vrrp_garp_master_delay, 5 s after a takeover),
  // so a previous row's preemption has finished.
  for (let since = Date.now(), end = Date.now() + 30_000; Date.now() < end; await sleep(200)) {
    const h = await lab.vipHoldersAsync();
    if (h.length !== 1 || h[0] !== master) since = Date.now();
    else if (Date.now() - since >= 6_000) break;
  }
  if (!(await lab.waitVip(master!, 1_000))) throw new HakError(`the lab is not in its steady state before row ${id}: VIP on ${lab.vipHolders().join(", ") || "no host"}, wanted ${master}`);
  const prober = new Prober({ url: `https://${lab.vip}:${lab.port}/version`, ca: lab.caPem, intervalMs: 100, timeoutMs: 2_000 });
  prober.start();
  // Steady state first: ten calls in a row served (a previous row's preemption may still be settling).
  for (let i = 0; i < 150; i++) {
    const last = prober.snapshot().slice(-10);
    if (last.length === 10 && last.every((x) => x.ok)) break;
    await sleep(100);
  }
  const t0 = prober.now();
  // Who holds the VIP, every 100 ms, to tell when it moved.
  const vipSeen: { t: number; holders: string[] }[] = [];
  let watching = true;
  const watch = (async () => {
    while (watching) {
      const holders = await lab.vipHoldersAsync();
      const last = vipSeen[vipSeen.length - 1];
      if (!last || last.holders.join() !== holders.join()) vipSeen.push({ t: prober.now(), holders });
      await sleep(100);
    }
  })();
  await sleep(baselineMs);
  const vipBefore = lab.vipHolders();
  const tFault = prober.now();
  if (id === "lb-host") {
    lab.killService(master!, "keepalived");
    lab.killService(master!, "haproxy");
    lab.setLink(master!, false);
  } else if (id === "lb-haproxy") {
    lab.killService(master!, "haproxy");
  } else {
    lab.killBackend(backend);
  }
  await sleep(windowMs);
  const vipFault = lab.vipHolders();
  const tRestore = prober.now();
  if (id === "lb-host") {
    // The host comes back: link up, then its units start again (haproxy before keepalived, as the plan orders them).
    lab.setLink(master!, true);
    await lab.startService(master!, "haproxy");
    await lab.startService(master!, "keepalived");
  } else if (id === "lb-haproxy") {
    await lab.startService(master!, "haproxy");
  } else {
    await lab.startBackend(backend);
  }
  await sleep(windowMs);
  const vipRestore = lab.vipHolders();
  const tEnd = prober.now();
  const samples: Sample[] = await prober.stop();
  watching = false;
  await watch;
  const changes = (from: number, to: number) => vipSeen.filter((v) => v.t >= from && v.t < to).map((v) => ({ atMs: Math.round(v.t - from), holders: v.holders }));
  return {
    id,
    failure: LB_ROW_TITLES[id],
    baseline: summarize(samples, t0, tFault),
    vipBefore,
    fault: { summary: summarize(samples, tFault, tRestore), vipAfter: vipFault, vipChanges: changes(tFault, tRestore) },
    restore: { summary: summarize(samples, tRestore, tEnd), vipAfter: vipRestore, vipChanges: changes(tRestore, tEnd) },
  };
}
