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
