import { Hono } from "hono";
import type { Registry } from "prom-client";
import type { Snapshot } from "./monitor.js";
import { renderFleetPage } from "./page.js";

/**
 * The HTTP surface of `hak-pki serve`, as a function of where its data comes
 * from, so tests call it with app.request() and no socket.
 */
export interface ServeAppDeps {
  snapshot: () => Snapshot;
  registry: Registry;
  refreshSeconds: number;
  /** Where each host's agent logs ({host} for its name), for the page's next steps; default: the journal. */
  agentLog?: string;
  /** Snapshot older than this (seconds) makes /healthz fail: the refresh loop is stuck. */
  staleAfterSeconds: number;
  now?: () => Date;
}

export function createServeApp(deps: ServeAppDeps): Hono {
  const app = new Hono();
  app.use(async (c, next) => {
    await next();
    c.header("X-Content-Type-Options", "nosniff");
    c.header("Cache-Control", "no-store");
  });

  app.get("/", (c) => {
    c.header("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'");
    return c.html(renderFleetPage(deps.snapshot(), { refreshSeconds: deps.refreshSeconds, agentLog: deps.agentLog }));
  });

  app.get("/api/fleet", (c) => c.json(deps.snapshot()));

  app.get("/metrics", async (c) => {
    const body = await deps.registry.metrics();
    return c.body(body, 200, { "Content-Type": deps.registry.contentType });
  });

  // Healthy = Vault was read recently. A fleet full of problems is still a healthy serve.
  app.get("/healthz", (c) => {
    const s = deps.snapshot();
    const now = (deps.now?.() ?? new Date()).getTime();
    const age = s.lastSuccess ? (now - Date.parse(s.lastSuccess)) / 1000 : Infinity;
    const ok = age <= deps.staleAfterSeconds;
    return c.json({ ok, lastSuccess: s.lastSuccess ?? null, ageSeconds: Number.isFinite(age) ? Math.round(age) : null, error: s.error ?? null }, ok ? 200 : 503);
  });

  app.notFound((c) => c.text("not found: try /, /api/fleet, /metrics, /healthz\n", 404));
  return app;
}
