{
  description = "hak: PKI and secrets for highly-available Kubernetes on NixOS, issued by Vault/OpenBao";

  inputs = {
    nixpkgs.url = "github:NixOS/nixpkgs/nixos-25.05";
    colmena = {
      url = "github:zhaofengli/colmena";
      inputs.nixpkgs.follows = "nixpkgs";
    };
  };

  outputs =
    {
      self,
      nixpkgs,
      colmena,
    }:
    let
      systems = [
        "x86_64-linux"
        "aarch64-linux"
      ];
      forAllSystems = f: nixpkgs.lib.genAttrs systems (system: f nixpkgs.legacyPackages.${system});

      # Pure functions of the inventory (evaluated in CI by test/nix).
      hakLib = import ./nix/lib;

      # The agent module with this flake's package as its default.
      agentModule =
        { lib, pkgs, ... }:
        {
          imports = [ ./nix/modules/hak-agent.nix ];
          services.hak-agent.package = lib.mkDefault self.packages.${pkgs.stdenv.hostPlatform.system}.hak;
        };

      # A cluster role: the inventory options, the agent, the role itself.
      role = file: {
        imports = [
          agentModule
          ./nix/modules/cluster.nix
          file
        ];
      };

      roles = {
        etcd = role ./nix/modules/etcd.nix;
        controlplane = role ./nix/modules/controlplane.nix;
        worker = role ./nix/modules/worker.nix;
        loadbalancer = role ./nix/modules/loadbalancer.nix;
      };

      # hive/inventory.json is written by `hak-deploy hive` from the YAML
      # inventory (and must be `git add`ed: a flake sees tracked files only).
      inventoryFile = ./hive/inventory.json;

      mkHive =
        {
          inventory,
          hiveDir ? null,
          system ? "x86_64-linux",
        }:
        import ./nix/hive.nix {
          inherit inventory hiveDir;
          modules = roles;
          nixpkgs = import nixpkgs { inherit system; };
        };
    in
    {
      packages = forAllSystems (pkgs: rec {
        hak = pkgs.callPackage ./nix/package.nix { };
        default = hak;
      });

      nixosModules = roles // {
        hak-agent = agentModule;
        vault = ./nix/modules/vault.nix;
      };

      devShells = forAllSystems (pkgs: {
        default = pkgs.mkShell {
          packages = [
            pkgs.nodejs_22
            pkgs.openbao
            pkgs.etcd
            pkgs.kubectl
            pkgs.nixfmt-rfc-style
            colmena.packages.${pkgs.stdenv.hostPlatform.system}.colmena
          ];
        };
      });

      # For a deployment flake of its own: hak.lib.mkHive { inventory =
      # hak.lib.readInventory ./hive/inventory.json; hiveDir = ./hive; }.
      lib = hakLib // {
        inherit mkHive;
      };

      # Colmena 0.4 reads `colmena`, 0.5 `colmenaHive`.
      colmena =
        if builtins.pathExists inventoryFile then
          mkHive {
            inventory = hakLib.readInventory inventoryFile;
            hiveDir = ./hive;
          }
        else
          throw "hak: hive/inventory.json is missing: run `hak-deploy hive -i INVENTORY.yaml` and `git add hive/inventory.json`";

      colmenaHive = colmena.lib.makeHive self.outputs.colmena;
    };
}
