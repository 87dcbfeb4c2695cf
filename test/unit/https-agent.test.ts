import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Agent, request } from "../../src/common/https-agent.js";
import { VaultClient } from "../../src/common/vault.js";

// A real HTTP server on a random loopback port: one path per behaviour.
let server: Server;
let base: string;
const seen: { method?: string; url?: string; body: string; remote?: string }[] = [];
beforeAll(async () => {
  server = createServer((req, res) => {
    let body = "";
    req.on("data", (c) => (body += c));
    req.on("end", () => {
      seen.push({ method: req.method, url: req.url, body, remote: req.socket.remoteAddress });
      if (req.url?.startsWith("/v1/silent")) return; // never answers
      if (req.url?.startsWith("/v1/trickle")) {
        res.writeHead(200, { "Content-Type": "application/json" });
        res.write('{"data":'); // and then nothing
        return;
      }
      res.writeHead(200, { "Content-Type": "application/json" });
      setTimeout(() => res.end(JSON.stringify({ data: { echo: body, url: req.url } })), 20);
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

describe("https-agent (VaultClient's HTTP on node:http/https)", () => {
  it("sends method, headers, body and the LIST query, and reads the JSON answer", async () => {
    const c = new VaultClient({ addresses: [base], token: "t0k" });
    const res = await c.write<{ echo: string }>("secret/x", { a: 1 });
    expect(JSON.parse(res!.data!.echo)).toEqual({ a: 1 });
    expect(await c.list("secret/")).toEqual([]);
    expect(seen.at(-1)).toMatchObject({ method: "GET", url: "/v1/secret/?list=true" });
    await c.close();
  });

  it("a server that never answers is a headers timeout, reported as no answer", async () => {
    const c = new VaultClient({ addresses: [base], timeoutMs: 150 });
    const t = performance.now();
    await expect(c.read("silent")).rejects.toThrow(/no answer: UND_ERR_HEADERS_TIMEOUT/);
    expect(performance.now() - t).toBeLessThan(5000);
    await c.close();
  });

  it("a body that stops half-way is a body timeout", async () => {
    const a = new Agent({ bodyTimeout: 150, headersTimeout: 1000 });
    const res = await request(`${base}/v1/trickle`, { method: "GET", headers: {}, dispatcher: a });
    expect(res.statusCode).toBe(200);
    await expect(res.body.text()).rejects.toMatchObject({ code: "UND_ERR_BODY_TIMEOUT" });
    await a.close();
  });

  it("close() waits for the requests in flight, then refuses new ones", async () => {
    const a = new Agent({});
    const pending = request(`${base}/v1/slow`, { method: "GET", headers: {}, dispatcher: a }).then((r) => r.body.text());
    await new Promise((r) => setTimeout(r, 5));
    await a.close();
    expect(JSON.parse(await pending).data.url).toBe("/v1/slow");
    await expect(request(`${base}/v1/after`, { method: "GET", headers: {}, dispatcher: a })).rejects.toThrow(/closed/);
  });

  it("connects from the configured source address", async () => {
    // Any loopback address works as a source; a random one, so the test shows it was used.
    const from = `127.0.${2 + Math.floor(Math.random() * 250)}.${2 + Math.floor(Math.random() * 250)}`;
    const c = new VaultClient({ addresses: [base], localAddress: from });
    await c.read("from");
    expect(seen.at(-1)!.remote).toBe(from);
    await c.close();
  });

  it("a refused connection is no answer with ECONNREFUSED", async () => {
    const s = createServer();
    await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
    const port = (s.address() as AddressInfo).port;
    await new Promise<void>((r) => s.close(() => r()));
    const c = new VaultClient({ addresses: [`http://127.0.0.1:${port}`] });
    await expect(c.read("x")).rejects.toThrow(/no answer: ECONNREFUSED/);
    await c.close();
  });
});
