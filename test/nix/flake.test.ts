import { cpSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadInventory, type Inventory } from "../../src/common/inventory.js";
import { PROJECT_ROOT } from "../../src/common/paths.js";
import { writeHive } from "../../src/deploy/hive.js";
import { evalNixJson, nixInstantiate, nixPath, nixSandbox, type NixSandbox } from "./nix.js";

/**
 * flake.nix's outputs function, called with stand-ins for its inputs (CI has
 * neither nixpkgs nor Colmena): a fake nixpkgs (only genAttrs and an import
 * that names the system) and a STAND-IN colmena whose lib.makeHive records
 * what it was given. It checks the wiring: output names, that colmenaHive is
 * made from the `colmena` hive, which comes from hive/plans, and the message
 * when the plans are missing. The real makeHive (Colmena 0.4 and main) and
 * real option types: scripts/nix-eval-hive.sh, locally.
 */

function flakeExpr(flakeDir: string, select: string): string {
  return `
    let
      flake = import ${nixPath(join(flakeDir, "flake.nix"))};
      fakeNixpkgs = {
        outPath = ${nixPath(join(flakeDir, "fake-nixpkgs"))};
        lib.genAttrs = names: f: builtins.listToAttrs (map (n: { name = n; value = f n; }) names);
        legacyPackages = { x86_64-linux = { }; aarch64-linux = { }; };
      };
      colmenaStandIn = { lib.makeHive = hive: { madeFrom = hive; }; };
      self = outputs // { inherit outputs; };
      outputs = flake.outputs { inherit self; nixpkgs = fakeNixpkgs; colmena = colmenaStandIn; };
    in ${select}`;
}

function checkout(sb: NixSandbox, name: string, inv?: Inventory): string {
  const dir = join(sb.dir, name);
  mkdirSync(join(dir, "fake-nixpkgs"), { recursive: true });
  cpSync(join(PROJECT_ROOT, "flake.nix"), join(dir, "flake.nix"));
  cpSync(join(PROJECT_ROOT, "nix"), join(dir, "nix"), { recursive: true });
  writeFileSync(join(dir, "fake-nixpkgs", "default.nix"), '{ system }: "nixpkgs for ${system}"\n');
  if (inv) writeHive(dir, inv);
  return dir;
}

describe("flake.nix outputs (inputs replaced by stand-ins)", () => {
  let sb: NixSandbox;
  let inv: Inventory;
  let flakeDir: string;
  beforeAll(() => {
    nixInstantiate();
    sb = nixSandbox();
    inv = loadInventory(join(PROJECT_ROOT, "examples", "demo-cluster.yaml"));
    flakeDir = checkout(sb, "checkout", inv);
  });
  afterAll(() => sb?.cleanup());

  it("declares the host module, the agent and vault modules, package, dev shell, lib and both hive outputs", () => {
    const out = evalNixJson(
      sb,
      flakeExpr(
        flakeDir,
        `{
          outputs = builtins.attrNames outputs;
          nixosModules = builtins.attrNames outputs.nixosModules;
          packages = builtins.attrNames outputs.packages;
          devShells = builtins.attrNames outputs.devShells;
          lib = builtins.filter (n: builtins.elem n [ "mkHive" "readPlan" "readPlans" "execStart" ]) (builtins.attrNames outputs.lib);
        }`,
      ),
    );
    expect(out).toEqual({
      outputs: ["colmena", "colmenaHive", "devShells", "lib", "nixosModules", "packages"],
      nixosModules: ["default", "hak", "hak-agent", "vault"],
      packages: ["aarch64-linux", "x86_64-linux"],
      devShells: ["aarch64-linux", "x86_64-linux"],
      lib: ["execStart", "mkHive", "readPlan", "readPlans"],
    });
  });

  it("makes colmenaHive with the colmena input's makeHive from the `colmena` hive of hive/plans", () => {
    const out = evalNixJson(
      sb,
      flakeExpr(
        flakeDir,
        `let nodes = h: builtins.mapAttrs (_: n: n.deployment) (builtins.removeAttrs h [ "meta" ]); in {
          meta = outputs.colmena.meta;
          colmena = nodes outputs.colmena;
          colmenaHive = nodes outputs.colmenaHive.madeFrom;
        }`,
      ),
    ) as { meta: unknown; colmena: Record<string, unknown>; colmenaHive: Record<string, unknown> };
    expect(out.meta).toEqual({ nixpkgs: "nixpkgs for x86_64-linux", description: "hak cluster demo" });
    expect(out.colmenaHive).toEqual(out.colmena);
    expect(Object.keys(out.colmena).sort()).toEqual(inv.hosts.map((h) => h.name).sort());
    expect(out.colmena.controlplane2).toEqual({ targetHost: "10.240.0.22", targetUser: "root", tags: ["controlplane"] });
  });

  it("says how to write hive/plans when it is missing", () => {
    const bare = checkout(sb, "bare");
    expect(() => evalNixJson(sb, flakeExpr(bare, "builtins.attrNames outputs.colmena"))).toThrow(/hive\/plans is missing: run `hak-deploy hive/);
  });
});
