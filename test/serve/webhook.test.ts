import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import type { WebhookPayload } from "../../src/pki/serve/alerts.js";
import { WebhookQueue, type DeliveryResult } from "../../src/pki/serve/webhook.js";

/** A real receiver on loopback that answers each request with the next status of `script` (then 200). */
async function receiver(script: number[]): Promise<{ url: string; got: string[]; requests: () => number; server: Server }> {
  const got: string[] = [];
  let n = 0;
  const server = createServer((req, res) => {
    let body = "";
    req.on("data", (d: Buffer) => (body += d.toString()));
    req.on("end", () => {
      const status = script[n++] ?? 200;
      if (status < 300) got.push((JSON.parse(body) as WebhookPayload).groupKey);
      res.writeHead(status).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`, got, requests: () => n, server };
}

const payload = (key: string): WebhookPayload => ({
  version: "4",
  groupKey: key,
  truncatedAlerts: 0,
  status: "firing",
  receiver: "t",
  groupLabels: {},
  commonLabels: {},
  commonAnnotations: {},
  externalURL: "http://x/",
  alerts: [],
});

const fast = { attempts: 2, baseMs: 5, capMs: 10 };
let servers: Server[] = [];
afterEach(() => {
  for (const s of servers) s.close();
  servers = [];
});

describe("WebhookQueue", () => {
  it("retries within a delivery, parks what a down receiver could not take, and sends it later in order", async () => {
    const r = await receiver([503, 503, 503]);
    servers.push(r.server);
    const results: DeliveryResult[] = [];
    const q = new WebhookQueue(r.url, { retry: fast, onResult: (x) => results.push(x) });
    q.push(payload("a"));
    q.push(payload("b"));
    await q.idle();
    // a: two attempts, both 503 -> parked; b waits behind it, untried.
    expect(r.requests()).toBe(2);
    expect(q.parkedCount).toBe(2);
    expect(results).toEqual([{ ok: false, attempts: 2, error: "HTTP 503", retryable: true }]);
    q.retryParked();
    q.push(payload("c"));
    await q.idle();
    expect(r.got).toEqual(["a", "b", "c"]);
    expect(q.parkedCount).toBe(0);
  });

  it("does not send again what the receiver refused (4xx)", async () => {
    const r = await receiver([400]);
    servers.push(r.server);
    const q = new WebhookQueue(r.url, { retry: fast });
    q.push(payload("refused"));
    q.push(payload("next"));
    await q.idle();
    q.retryParked();
    await q.idle();
    expect(r.requests()).toBe(2);
    expect(r.got).toEqual(["next"]);
  });

  it("parks while nothing listens, then delivers", async () => {
    const r = await receiver([]);
    const url = r.url;
    await new Promise<void>((res) => r.server.close(() => res()));
    const q = new WebhookQueue(url, { retry: fast });
    q.push(payload("x"));
    await q.idle();
    expect(q.parkedCount).toBe(1);
    const again = createServer((req, res) => {
      req.resume();
      req.on("end", () => res.writeHead(200).end());
    });
    servers.push(again);
    await new Promise<void>((res) => again.listen(Number(new URL(url).port), "127.0.0.1", res));
    q.retryParked();
    await q.idle();
    expect(q.parkedCount).toBe(0);
  });
});
