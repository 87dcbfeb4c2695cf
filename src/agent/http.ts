import type { AddressInfo } from "node:net";
import { serve, type ServerType } from "@hono/node-server";
import { Hono } from "hono";
import type { Registry } from "prom-client";

/**
 * The agent's local HTTP surface, as a hono app tested in-process:
 * - /healthz: liveness. 200 while the loop runs (a pass within the last
 *   2 minutes); 503 only when it is stuck. Vault being down, or a
 *   certificate late or expired, does NOT fail it: restarting the agent
 *   would not help, and a watchdog restarting it in a loop would hide the
 *   real alert.
 * - /readyz: 200 when every output is present and valid (late counts as
 *   valid: it still works); 503 naming the others when one is missing,
 *   invalid or expired. What a deploy gate waits for.
 * - /status: JSON for tools (hak-deploy enroll asks it over SSH): ready,
 *   the outputs not ready, and the agent's Vault login (method, token
 *   expiry), i.e. whether the agent can still reach Vault without a new
 *   secret ID.
 * - /metrics: Prometheus text.
 */

export interface HealthSource {
  /** The loop ran within its expected interval. */
  alive(): boolean;
  /** Names of outputs that are not present and valid; empty when ready. */
  notReady(): string[];
  /** The agent's Vault login, when it holds a token. */
  login?(): { method?: string; tokenExpiresAt?: string } | undefined;
}

/** /status as JSON: what `hak-deploy enroll` reads to decide whether a host needs a secret ID. */
export interface AgentStatusDoc {
  ready: boolean;
  notReady: string[];
  vault: { method?: string; tokenExpiresAt?: string } | null;
}

export function agentApp(health: HealthSource, registry: Registry): Hono {
  const app = new Hono();
  app.get("/healthz", (c) => (health.alive() ? c.text("ok\n") : c.text("the agent loop is stuck\n", 503)));
  app.get("/readyz", (c) => {
    const missing = health.notReady();
    return missing.length === 0 ? c.text("ready\n") : c.text(`not ready: ${missing.join(", ")}\n`, 503);
  });
  app.get("/status", (c) => {
    const notReady = health.notReady();
    const doc: AgentStatusDoc = { ready: notReady.length === 0, notReady, vault: health.login?.() ?? null };
    return c.json(doc);
  });
  app.get("/metrics", async (c) => c.body(await registry.metrics(), 200, { "Content-Type": registry.contentType }));
  return app;
}

/** "127.0.0.1:9180" or "[::1]:9180" -> host and port. */
export function parseListen(listen: string): { host: string; port: number } {
  const i = listen.lastIndexOf(":");
  return { host: listen.slice(0, i).replace(/^\[(.*)\]$/, "$1"), port: Number(listen.slice(i + 1)) };
}

export interface RunningHttp {
  port: number;
  close(): Promise<void>;
}

export function listenHttp(app: Hono, listen: string): Promise<RunningHttp> {
  const { host, port } = parseListen(listen);
  return new Promise((resolve, reject) => {
    const server: ServerType = serve({ fetch: app.fetch, hostname: host, port }, () =>
      resolve({
        port: (server.address() as AddressInfo).port,
        close: () => new Promise<void>((r) => server.close(() => r())),
      }),
    );
    server.once("error", reject);
  });
}
