import { cpSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseInventoryText, type Inventory } from "../../src/common/inventory.js";
import { PROJECT_ROOT } from "../../src/common/paths.js";
import { writeHive } from "../../src/deploy/hive.js";
import { evalNixJson, nixInstantiate, nixPath, nixSandbox, type NixSandbox } from "./nix.js";

/**
 * flake.nix's outputs function, called with stand-ins for its inputs (CI has
 * neither nixpkgs nor Colmena): a fake nixpkgs (only genAttrs and an import
 * that names the system) and a stand-in colmena whose lib.makeHive records
 * what it was given. It checks the wiring: output names, that both hive
 * outputs come from hive/inventory.json, and the message when that file is
 * missing.
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
      colmenaStandIn = { lib.makeHive = hive: { madeFrom = hive; }; packages = { }; };
      self = outputs // { inherit outputs; };
      outputs = flake.outputs { inherit self; nixpkgs = fakeNixpkgs; colmena = colmenaStandIn; };
    in ${select}`;
}

describe("flake.nix outputs (inputs replaced by stand-ins)", () => {
  let sb: NixSandbox;
  let inv: Inventory;
  let flakeDir: string;
  beforeAll(() => {
    nixInstantiate();
    sb = nixSandbox();
    const file = join(PROJECT_ROOT, "examples", "demo-cluster.yaml");
    inv = parseInventoryText(readFileSync(file, "utf8"), file);
    // A copy of the flake with hive/inventory.json written by `hak-deploy
    // hive`'s own writer, as an operator's checkout has it.
    flakeDir = join(sb.dir, "checkout");
    mkdirSync(flakeDir);
    cpSync(join(PROJECT_ROOT, "flake.nix"), join(flakeDir, "flake.nix"));
    cpSync(join(PROJECT_ROOT, "nix"), join(flakeDir, "nix"), { recursive: true });
    writeHive(flakeDir, inv);
    mkdirSync(join(flakeDir, "fake-nixpkgs"));
    writeFileSync(join(flakeDir, "fake-nixpkgs", "default.nix"), '{ system }: "nixpkgs for ${system}"\n');
  });
  afterAll(() => sb?.cleanup());

  it("declares the modules, package, dev shell, lib and both hive outputs", () => {
    const out = evalNixJson(
      sb,
      flakeExpr(
        flakeDir,
        `{
          outputs = builtins.attrNames outputs;
          nixosModules = builtins.attrNames outputs.nixosModules;
          packages = builtins.attrNames outputs.packages;
          devShells = builtins.attrNames outputs.devShells;
          hasMkHive = outputs.lib ? mkHive;
          etcdInitialCluster = outputs.lib.etcdInitialCluster (
            outputs.lib.readInventory ${nixPath(join(flakeDir, "hive", "inventory.json"))}
          );
        }`,
      ),
    );
    expect(out).toEqual({
      outputs: ["colmena", "colmenaHive", "devShells", "lib", "nixosModules", "packages"],
      nixosModules: ["controlplane", "etcd", "hak-agent", "loadbalancer", "vault", "worker"],
      packages: ["aarch64-linux", "x86_64-linux"],
      devShells: ["aarch64-linux", "x86_64-linux"],
      hasMkHive: true,
      etcdInitialCluster: "etcd1=https://10.240.0.11:2380,etcd2=https://10.240.0.12:2380,etcd3=https://10.240.0.13:2380",
    });
  });

  it("builds colmena (0.4) from hive/inventory.json and colmenaHive (0.5) from the same attrset", () => {
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

  it("says how to create hive/inventory.json when it is missing", () => {
    const bare = join(sb.dir, "bare");
    mkdirSync(bare);
    cpSync(join(PROJECT_ROOT, "flake.nix"), join(bare, "flake.nix"));
    cpSync(join(PROJECT_ROOT, "nix"), join(bare, "nix"), { recursive: true });
    cpSync(join(flakeDir, "fake-nixpkgs"), join(bare, "fake-nixpkgs"), { recursive: true });
    expect(() => evalNixJson(sb, flakeExpr(bare, "builtins.attrNames outputs.colmena"))).toThrow(
      /hive\/inventory.json is missing: run `hak-deploy hive/,
    );
  });
});
