import type { AddressInfo } from "node:net";
import { serve as nodeServe, type ServerType } from "@hono/node-server";
import { errorMessage } from "../../common/errors.js";
import { createServeApp } from "./app.js";
import { renewSelf } from "./auditor.js";
import { fleetRegistry } from "./metrics.js";
import { FleetMonitor, type MonitorOptions } from "./monitor.js";

/**
 * `hak-pki serve` as a library call: the monitor loop plus the HTTP app on a
 * real socket. The CLI and the demo call this; tests call it too.
 */

export interface ServeOptions extends Omit<MonitorOptions, "externalUrl"> {
  listen: { host: string; port: number };
  /** Seconds between Vault reads (and page reloads). */
  intervalSeconds: number;
  /** Check drift every n-th refresh (it reads every object hak owns). */
  driftEvery?: number;
  /** URL people and Alertmanager use to reach this serve; default http://host:port/. */
  externalUrl?: string;
  /** Where each host's agent logs ({host} for its name), shown as a next step; default: journalctl. */
  agentLog?: string;
  /** Renew the (periodic) token this often; 0 or undefined: never. */
  renewTokenSeconds?: number;
}

export interface RunningServe {
  url: string;
  monitor: FleetMonitor;
  close(): Promise<void>;
}

function listen(host: string, port: number, fetch: (req: Request) => Response | Promise<Response>): Promise<ServerType> {
  return new Promise((res, rej) => {
    const server = nodeServe({ fetch, hostname: host, port }, () => res(server));
    server.once("error", rej);
  });
}

export async function startServe(opts: ServeOptions): Promise<RunningServe> {
  // The port is known only once bound (port 0), and the webhook's externalURL needs it: bind first, route after.
  let handler: ((req: Request) => Response | Promise<Response>) | undefined;
  const server = await listen(opts.listen.host, opts.listen.port, (req) => (handler ? handler(req) : new Response("starting\n", { status: 503 })));
  const port = (server.address() as AddressInfo).port;
  const hostPart = opts.listen.host.includes(":") ? `[${opts.listen.host}]` : opts.listen.host;
  const url = opts.externalUrl ?? `http://${hostPart}:${port}/`;
  const monitor = new FleetMonitor({ ...opts, externalUrl: url });
  const app = createServeApp({
    snapshot: () => monitor.snapshot(),
    registry: fleetRegistry(
      () => monitor.snapshot(),
      () => monitor.stats,
    ),
    refreshSeconds: opts.intervalSeconds,
    agentLog: opts.agentLog,
    // Three missed refreshes (a slow Vault read counts) before /healthz turns red.
    staleAfterSeconds: Math.max(30, opts.intervalSeconds * 3),
    now: opts.now,
  });
  handler = (req) => app.fetch(req);
  monitor.start(opts.intervalSeconds * 1000, opts.driftEvery ?? 1);
  const renew = opts.renewTokenSeconds
    ? setInterval(() => {
        renewSelf(opts.client).catch((err: unknown) => opts.log?.warn({ error: errorMessage(err) }, "could not renew the Vault token"));
      }, opts.renewTokenSeconds * 1000)
    : undefined;
  renew?.unref();
  return {
    url,
    monitor,
    close: async () => {
      if (renew) clearInterval(renew);
      await monitor.stop();
      await new Promise<void>((res) => server.close(() => res()));
    },
  };
}
