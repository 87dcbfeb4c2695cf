import { statSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { freePort, startLocalServer } from "../../src/common/localbao.js";
import { realBao } from "../helpers/bao.js";

describe("local OpenBao from vault-dev.hcl", () => {
  let bao: Awaited<ReturnType<typeof realBao>>;
  afterAll(async () => bao?.cleanup());

  it("initialises on first start, keeps the unseal key 0600, serves TLS with its own CA", async () => {
    bao = await realBao();
    expect(bao.address).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    const init = join(bao.stateDir, "init.json");
    expect(statSync(init).mode & 0o777).toBe(0o600);
    expect(statSync(join(bao.stateDir, "tls", "server.key")).mode & 0o777).toBe(0o600);
    const parsed = JSON.parse(readFileSync(init, "utf8")) as { root_token: string; unseal_keys_b64: string[] };
    expect(parsed.unseal_keys_b64).toHaveLength(1);
    const c = bao.client();
    const self = await c.read<{ policies: string[] }>("auth/token/lookup-self");
    expect(self?.policies).toContain("root");
    await c.close();
  });

  it("unseals again after a restart, with the same root token and data", async () => {
    const c = bao.client();
    await c.write("sys/mounts/restart-check", { type: "kv", options: { version: "2" } });
    await c.write("restart-check/data/x", { data: { v: "kept" } });
    await c.close();
    await bao.stop();
    const port = Number(new URL(bao.address).port);
    const again = await startLocalServer({ stateDir: bao.stateDir, port, clusterPort: await freePort() });
    expect(again.rootToken).toBe(bao.rootToken);
    const c2 = again.client();
    const got = await c2.read<{ data: { v: string } }>("restart-check/data/x");
    expect(got?.data.v).toBe("kept");
    await c2.close();
    bao = { ...bao, ...again, stateDir: bao.stateDir, cleanup: bao.cleanup };
    await again.stop();
  });
});
