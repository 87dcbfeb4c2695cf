import { mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadInventory, type Inventory } from "../../src/common/inventory.js";
import { PROJECT_ROOT } from "../../src/common/paths.js";
import { DEPLOY_ORDER } from "../../src/plan/topology.js";
import { evalNixJson, NIX_DIR, nixInstantiate, nixPath, nixSandbox, writeHiveDir, type NixSandbox } from "./nix.js";

/**
 * The Colmena hive (nix/hive.nix, which flake.nix's `colmena` and
 * `colmenaHive` outputs use) evaluated from the host plans `hak-deploy hive`
 * writes (hive/plans/<host>.json): one node per plan, deployed to the plan's
 * address, tagged with its role (what `hak-deploy apply` selects with
 * `--on @<role>`), running the host module on its own plan file, plus the
 * operator's optional files. The host module and nixpkgs are stand-in
 * strings here: evaluating the module needs nixpkgs.lib
 * (scripts/nix-eval-hive.sh does that locally, through Colmena's makeHive).
 */

function hiveExpr(hiveDir: string): string {
  return `
    let
      hive = import ${nixPath(join(NIX_DIR, "hive.nix"))} {
        hiveDir = ${nixPath(hiveDir)};
        module = "host-module-stand-in";
        nixpkgs = "nixpkgs-stand-in";
      };
      nodes = builtins.removeAttrs hive [ "meta" ];
    in {
      meta = hive.meta;
      nodes = builtins.mapAttrs (_: n: {
        inherit (n) deployment;
        imports = map toString n.imports;
        planFile = toString n.hak.planFile;
      }) nodes;
    }`;
}

interface HiveNode {
  deployment: { targetHost: string; targetUser: string; tags: string[] };
  imports: string[];
  planFile: string;
}

describe("the Colmena hive from the host plans", () => {
  let sb: NixSandbox;
  let inv: Inventory;
  beforeAll(() => {
    nixInstantiate();
    sb = nixSandbox();
    inv = loadInventory(join(PROJECT_ROOT, "examples", "demo-cluster.yaml"));
  });
  afterAll(() => sb?.cleanup());

  it("has one node per host plan: address, root, role tag, the host module on its own plan", () => {
    const hive = writeHiveDir(sb, "demo", inv);
    const out = evalNixJson(sb, hiveExpr(hive)) as { meta: { nixpkgs: string; description: string }; nodes: Record<string, HiveNode> };
    expect(out.meta).toEqual({ nixpkgs: "nixpkgs-stand-in", description: "hak cluster demo" });
    expect(Object.keys(out.nodes).sort()).toEqual(inv.hosts.map((h) => h.name).sort());
    for (const h of inv.hosts) {
      expect(out.nodes[h.name], h.name).toEqual({
        deployment: { targetHost: h.address, targetUser: "root", tags: [h.role] },
        imports: ["host-module-stand-in"],
        planFile: join(hive, "plans", `${h.name}.json`),
      });
      const plan = JSON.parse(readFileSync(out.nodes[h.name]!.planFile, "utf8")) as { host: { name: string } };
      expect(plan.host.name).toBe(h.name);
    }
    // Every role `hak-deploy apply` walks through selects at least one node.
    for (const role of DEPLOY_ORDER) expect(Object.values(out.nodes).some((n) => n.deployment.tags.includes(role)), role).toBe(true);
  });

  it("imports the operator's common.nix and hosts/<name>.nix when they exist", () => {
    const hive = writeHiveDir(sb, "operator", inv);
    mkdirSync(join(hive, "hosts"), { recursive: true });
    writeFileSync(join(hive, "common.nix"), "{ }\n");
    writeFileSync(join(hive, "hosts", "worker1.nix"), "{ }\n");
    const out = evalNixJson(sb, hiveExpr(hive)) as { nodes: Record<string, HiveNode> };
    expect(out.nodes.worker1!.imports).toEqual(["host-module-stand-in", join(hive, "common.nix"), join(hive, "hosts", "worker1.nix")]);
    expect(out.nodes.etcd1!.imports).toEqual(["host-module-stand-in", join(hive, "common.nix")]);
  });

  it("refuses a hand-written plan of a host name Colmena reserves, naming it", () => {
    const hive = writeHiveDir(sb, "reserved", inv);
    const file = join(hive, "plans", "worker2.json");
    const plan = JSON.parse(readFileSync(file, "utf8")) as { host: { name: string } };
    plan.host.name = "network";
    writeFileSync(join(hive, "plans", "network.json"), JSON.stringify(plan));
    renameSync(file, join(sb.dir, "worker2.json.away"));
    expect(() => evalNixJson(sb, hiveExpr(hive))).toThrow(/host name network is reserved by Colmena/);
  });

  it("says how to write the plans when hive/plans is missing", () => {
    const bare = join(sb.dir, "bare", "hive");
    mkdirSync(bare, { recursive: true });
    expect(() => evalNixJson(sb, hiveExpr(bare))).toThrow(/hive\/plans is missing: run `hak-deploy hive -i INVENTORY.yaml` and `git add hive\/`/);
  });
});
