{
  description = "hak: PKI and secrets for highly-available Kubernetes on NixOS, issued by Vault/OpenBao";

  inputs = {
    # The current NixOS stable release (its Kubernetes is 1.35.x, the version
    # the host plans target: src/plan/options.ts KUBERNETES_VERSION).
    nixpkgs.url = "github:NixOS/nixpkgs/nixos-26.05";
    # Colmena 0.4, the release nixpkgs ships: its makeHive builds
    # `colmenaHive` with the hive schema Colmena 0.4 accepts (v0). Colmena
    # 0.4 reads `colmenaHive` first and refuses any other schema, and 0.5
    # refuses v0 with "Use the same version of Colmena as in the Flake
    # input" (src/nix/hive/flake.nix processFlake in both): one version works,
    # the other fails clearly. docs/nix.md, "Colmena".
    colmena = {
      url = "github:zhaofengli/colmena/v0.4.0";
      inputs.nixpkgs.follows = "nixpkgs";
      inputs.stable.follows = "nixpkgs";
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

      # A hak host: its plan mapped onto NixOS, the agent with this flake's package.
      hostModule =
        { lib, pkgs, ... }:
        {
          imports = [ ./nix/modules/plan.nix ];
          services.hak-agent.package = lib.mkDefault self.packages.${pkgs.stdenv.hostPlatform.system}.hak;
        };

      # The hive of a hive directory (plans/<host>.json from `hak-deploy hive`).
      mkHive =
        {
          hiveDir,
          system ? "x86_64-linux",
        }:
        import ./nix/hive.nix {
          inherit hiveDir;
          module = hostModule;
          nixpkgs = import nixpkgs { inherit system; };
        };
    in
    {
      packages = forAllSystems (pkgs: rec {
        hak = pkgs.callPackage ./nix/package.nix { };
        default = hak;
      });

      nixosModules = {
        default = hostModule;
        hak = hostModule;
        hak-agent = ./nix/modules/hak-agent.nix;
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
            # nixpkgs' Colmena: 0.4, the version colmenaHive is built for.
            pkgs.colmena
          ];
        };
      });

      # For a deployment flake of its own: hak.lib.mkHive { hiveDir = ./hive; }.
      lib = import ./nix/lib // {
        inherit mkHive;
      };

      colmena = mkHive { hiveDir = ./hive; };
      colmenaHive = colmena.lib.makeHive self.outputs.colmena;
    };
}
