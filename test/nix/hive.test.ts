import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseInventoryText, type Inventory } from "../../src/common/inventory.js";
import { PROJECT_ROOT } from "../../src/common/paths.js";
import { DEPLOY_ORDER } from "../../src/deploy/topology.js";
import { evalNixJson, NIX_DIR, nixInstantiate, nixPath, nixSandbox, writeInventoryJson, type NixSandbox } from "./nix.js";

/**
 * The Colmena hive (nix/hive.nix, which flake.nix's `colmena` and
 * `colmenaHive` outputs use) evaluated from the inventory JSON: one node per
 * host, deployed to its address, tagged with its role (what `hak-deploy
 * apply` selects with `--on @<role>`), running its role's module, plus the
 * operator's optional per-host files. The role modules are stand-in strings
 * here: evaluating them needs nixpkgs (scripts/nix-eval-modules.sh does that
 * locally).
 */

function hiveExpr(sb: NixSandbox, invFile: string, hiveDir: string | null): string {
  return `
    let
      lib = import ${nixPath(join(NIX_DIR, "lib"))};
      hive = import ${nixPath(join(NIX_DIR, "hive.nix"))} {
        inventory = lib.readInventory ${nixPath(invFile)};
        modules = { etcd = "etcd-module"; controlplane = "controlplane-module"; worker = "worker-module"; loadbalancer = "loadbalancer-module"; };
        nixpkgs = "nixpkgs-stand-in";
        hiveDir = ${hiveDir === null ? "null" : nixPath(hiveDir)};
      };
      nodes = builtins.removeAttrs hive [ "meta" ];
    in {
      meta = hive.meta;
      nodes = builtins.mapAttrs (_: n: {
        inherit (n) deployment;
        imports = map toString n.imports;
        hak = n.hak // { inventory = n.hak.inventory.name; };
      }) nodes;
    }`;
}

interface HiveNode {
  deployment: { targetHost: string; targetUser: string; tags: string[] };
  imports: string[];
  hak: Record<string, unknown>;
}

describe("the Colmena hive from the inventory", () => {
  let sb: NixSandbox;
  let inv: Inventory;
  beforeAll(() => {
    nixInstantiate();
    sb = nixSandbox();
    const file = join(PROJECT_ROOT, "examples", "demo-cluster.yaml");
    inv = parseInventoryText(readFileSync(file, "utf8"), file);
  });
  afterAll(() => sb?.cleanup());

  it("has one node per host: address, root, role tag, role module, inventory and host name", () => {
    const out = evalNixJson(sb, hiveExpr(sb, writeInventoryJson(sb, "demo", inv), null)) as {
      meta: { nixpkgs: string; description: string };
      nodes: Record<string, HiveNode>;
    };
    expect(out.meta).toEqual({ nixpkgs: "nixpkgs-stand-in", description: "hak cluster demo" });
    expect(Object.keys(out.nodes).sort()).toEqual(inv.hosts.map((h) => h.name).sort());
    for (const h of inv.hosts) {
      expect(out.nodes[h.name], h.name).toEqual({
        deployment: { targetHost: h.address, targetUser: "root", tags: [h.role] },
        imports: [`${h.role}-module`],
        hak: { inventory: "demo", hostName: h.name, [h.role]: { enable: true } },
      });
    }
    // Every role `hak-deploy apply` walks through selects at least one node.
    for (const role of DEPLOY_ORDER)
      expect(Object.values(out.nodes).some((n) => n.deployment.tags.includes(role)), role).toBe(true);
  });

  it("imports the operator's common.nix and hosts/<name>.nix when they exist", () => {
    const hiveDir = join(sb.dir, "hive");
    mkdirSync(join(hiveDir, "hosts"), { recursive: true });
    writeFileSync(join(hiveDir, "common.nix"), "{ }\n");
    writeFileSync(join(hiveDir, "hosts", "worker1.nix"), "{ }\n");
    const out = evalNixJson(sb, hiveExpr(sb, writeInventoryJson(sb, "demo", inv), hiveDir)) as {
      nodes: Record<string, HiveNode>;
    };
    expect(out.nodes.worker1!.imports).toEqual([
      "worker-module",
      join(hiveDir, "common.nix"),
      join(hiveDir, "hosts", "worker1.nix"),
    ]);
    expect(out.nodes.etcd1!.imports).toEqual(["etcd-module", join(hiveDir, "common.nix")]);
  });

  it("refuses a host name Colmena reserves, naming it", () => {
    const bad = { ...inv, hosts: [...inv.hosts, { name: "meta", role: "worker" as const, address: "10.240.0.99" }] };
    expect(() => evalNixJson(sb, hiveExpr(sb, writeInventoryJson(sb, "bad", bad), null))).toThrow(
      /host name meta is reserved by Colmena/,
    );
  });
});
