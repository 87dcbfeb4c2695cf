import { createServer, type Server, type Socket } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { LocalBao } from "../../src/common/localbao.js";
import { VaultClient, type VaultRequestEvent } from "../../src/common/vault.js";
import { devBao } from "../helpers/bao.js";

/**
 * Several addresses, the first a node that accepts TCP but never completes
 * a TLS handshake (a hung or half-dead host): the client gives up on it at
 * the connect timeout, not the request timeout, and the live node answers.
 */

let bao: LocalBao;
let hung: Server;
const sockets: Socket[] = [];

beforeAll(async () => {
  bao = await devBao();
  hung = createServer((s) => sockets.push(s)); // accepts, says nothing
  await new Promise<void>((r) => hung.listen(0, "127.0.0.1", r));
});
afterAll(async () => {
  for (const s of sockets) s.destroy();
  hung?.close();
  await bao?.stop();
});

describe("VaultClient with a hung address first", () => {
  it("moves on at the connect timeout (default 3 s, under a 30 s request timeout) and is answered by the next", async () => {
    const events: VaultRequestEvent[] = [];
    const hungAddr = `https://127.0.0.1:${(hung.address() as { port: number }).port}`;
    const c = new VaultClient({ addresses: [hungAddr, bao.address], token: bao.rootToken, timeoutMs: 30_000, onRequest: (e) => events.push(e) });
    try {
      const res = await c.readBare<{ initialized: boolean }>("sys/health");
      expect(res?.initialized).toBe(true);
      const first = events.find((e) => e.address === hungAddr)!;
      expect(first.ok).toBe(false);
      // Given up by the connect timeout (3 s): before the old 10 s connect timeout, let alone the 30 s request timeout.
      expect(first.durationMs).toBeLessThan(10_000);
      expect(first.durationMs).toBeGreaterThanOrEqual(2_900);
      expect(events.at(-1)).toMatchObject({ address: bao.address, ok: true });
      // And the next request goes to the node that answered, not the hung one.
      await c.readBare("sys/health");
      expect(events.at(-1)!.address).toBe(bao.address);
      expect(events.filter((e) => e.address === hungAddr)).toHaveLength(1);
    } finally {
      await c.close();
    }
  }, 40_000);
});

describe("VaultClient with a standby that knows no active node first", () => {
  const standby = (message: string) =>
    new Promise<{ url: string; close: () => void }>((res) => {
      // Plain HTTP, as `bao server -dev` is: a node answering what a just-unsealed raft standby answers.
      void import("node:http").then(({ createServer: http }) => {
        const s = http((_req, r) => {
          r.writeHead(500, { "Content-Type": "application/json" });
          r.end(JSON.stringify({ errors: [message] }));
        });
        s.listen(0, "127.0.0.1", () => res({ url: `http://127.0.0.1:${(s.address() as { port: number }).port}`, close: () => s.close() }));
      });
    });

  it("tries the next address on 500 'local node not active but active cluster node not found' (the request was not served)", async () => {
    const sb = await standby("local node not active but active cluster node not found");
    const c = new VaultClient({ addresses: [sb.url, bao.address], token: bao.rootToken, timeoutMs: 10_000 });
    try {
      expect((await c.readBare<{ initialized: boolean }>("sys/health"))?.initialized).toBe(true);
    } finally {
      await c.close();
      sb.close();
    }
  });

  it("any other 500 is final (a CEL role's refusal is one): not sent to the next address", async () => {
    const sb = await standby("cel: request refused");
    const c = new VaultClient({ addresses: [sb.url, bao.address], token: bao.rootToken, timeoutMs: 10_000 });
    try {
      await expect(c.readBare("sys/health")).rejects.toThrow(/500|refused/);
    } finally {
      await c.close();
      sb.close();
    }
  });
});
