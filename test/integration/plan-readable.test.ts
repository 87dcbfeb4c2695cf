import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { LocalBao } from "../../src/common/localbao.js";
import type { VaultClient } from "../../src/common/vault.js";
import { bootstrap } from "../../src/pki/bootstrap.js";
import { renderPlan } from "../../src/pki/render-plan.js";
import { devBao } from "../helpers/bao.js";
import { loopbackInventory } from "../helpers/inventory.js";

/**
 * `bootstrap --dry-run` after a lifetime change, against a real OpenBao
 * (issue 13): durations read as durations, and the two sides of a changed
 * CEL program show where they differ instead of the same first 77 characters.
 */

const inv = (leafTtl: string) =>
  loopbackInventory({ name: "plan", net: 175, hosts: [["etcd1", "etcd"], ["cp1", "controlplane"]], overrides: { leafTtl } });

describe("a readable dry run", () => {
  let bao: LocalBao;
  let root: VaultClient;
  beforeAll(async () => {
    bao = await devBao();
    root = bao.client();
    await bootstrap(root, inv("720h"));
  });
  afterAll(async () => {
    await root?.close();
    await bao?.stop();
  });

  it("leafTtl 720h -> 5m: ttl lines in durations, CEL programs by their differing part", async () => {
    const plan = await bootstrap(root, inv("5m"), { dryRun: true });
    const text = renderPlan(plan, { cluster: "plan", verbose: false });
    expect(text).toMatch(/^ +ttl: 30d -> 5m$/m);
    expect(text).toMatch(/^ +not_before_duration: 5m -> 30s$/m);
    expect(text).not.toMatch(/ttl: 2592000/);
    const cel = text.split("\n").filter((l) => l.trim().startsWith("cel_program:"));
    expect(cel.length).toBeGreaterThan(0);
    for (const line of cel) {
      const [from, to] = line.trim().slice("cel_program: ".length).split(" -> ");
      expect(from).not.toBe(to);
      expect(`${from}${to}`).toMatch(/2592000s|300s|\b30s\b/);
    }
  });
});
