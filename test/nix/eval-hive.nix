# Evaluates the flake's `colmenaHive` as Colmena does: flake.nix's outputs
# with nixpkgs replaced by a stand-in (lib = the real nixpkgs.lib; modules
# evaluated by test/nix/stub-nixos.nix, real option types) and Colmena's
# lib.makeHive defined as its flake defines it, over Colmena's own
# src/nix/hive/eval.nix (the release given). Prints, per node, what the
# checks in scripts/nix-eval-hive.sh compare with the plan. Local only: CI
# cannot fetch nixpkgs.lib or Colmena.
{
  # nix-community/nixpkgs.lib's lib/ folder.
  nixpkgsLib,
  # A Colmena source tree (src/nix/hive/ of a release).
  colmenaSrc,
  # A copy of the repository's flake.nix and nix/ with hive/plans/.
  flakeDir,
  # A folder with default.nix and nixos/lib/eval-config.nix that load the
  # stand-in (written by the script: they name absolute paths).
  shimDir,
  # Extra NixOS modules on every node (the negative controls).
  extraModules ? [ ],
  # A Colmena source whose CLI reads the flake (its processFlake): by
  # default the release that made the hive.
  cliSrc ? colmenaSrc,
}:
let
  lib = import nixpkgsLib;
  stub = import ./stub-nixos.nix { inherit lib; };
  stubPkgs = stub.pkgs // {
    inherit lib;
    path = shimDir;
    system = "x86_64-linux";
    overlays = [ ];
    config = { };
  };
  nixpkgsInput = {
    inherit lib;
    outPath = shimDir;
    legacyPackages = {
      x86_64-linux = stubPkgs;
      aarch64-linux = stubPkgs;
    };
  };
  colmenaInput = {
    lib.makeHive =
      rawHive:
      import (colmenaSrc + "/src/nix/hive/eval.nix") {
        rawHive =
          if extraModules == [ ] then
            rawHive
          else
            rawHive // { defaults = { imports = extraModules; }; };
        colmenaOptions = import (colmenaSrc + "/src/nix/hive/options.nix");
        colmenaModules = import (colmenaSrc + "/src/nix/hive/modules.nix");
        hermetic = true;
      };
  };
  flake = import (flakeDir + "/flake.nix");
  self = outputs // {
    inherit outputs;
  };
  outputs = flake.outputs {
    inherit self;
    nixpkgs = nixpkgsInput;
    colmena = colmenaInput;
  };
  hive = outputs.colmenaHive;

  report =
    name: node:
    let
      c = node.config;
      plan = c.hak.plan;
      units = c.systemd.services;
    in
    {
      role = plan.host.role;
      # Every value of every declared option the node sets, forced (as
      # building the system would): a wrong type anywhere fails here, not
      # only in the fields reported below.
      forced = builtins.deepSeq {
        inherit (c)
          systemd
          environment
          users
          networking
          boot
          services
          assertions
          ;
      } true;
      failedAssertions = map (a: a.message) (builtins.filter (a: !a.assertion) c.assertions);
      deployment = {
        inherit (c.deployment) targetHost targetUser tags;
      };
      services = builtins.listToAttrs (
        map (s: {
          inherit (s) name;
          value = {
            planArgs = s.args;
            inherit (s) program reload;
            execStart = units.${s.name}.serviceConfig.ExecStart;
            execReload = units.${s.name}.serviceConfig.ExecReload or null;
            restartTriggers = builtins.length units.${s.name}.restartTriggers;
            reloadTriggers = builtins.length units.${s.name}.reloadTriggers;
            user = units.${s.name}.serviceConfig.User or null;
            after = units.${s.name}.after;
          };
        }) plan.services
      );
      unitNames = builtins.attrNames units;
      agentSettingsEqualPlan = c.services.hak-agent.settings == plan.agent;
      agentExecStart = units.hak-agent.serviceConfig.ExecStart;
      etc = lib.mapAttrs (_: e: { inherit (e) mode user group; text = e.text; }) (
        lib.filterAttrs (n: _: n != "hak/agent.json") c.environment.etc
      );
      planFiles = map (f: { inherit (f) path content mode usedBy; }) plan.files;
      users = lib.mapAttrs (_: u: { inherit (u) isSystemUser group extraGroups; }) c.users.users;
      groups = builtins.attrNames c.users.groups;
      firewall = {
        inherit (c.networking.firewall)
          allowedTCPPorts
          allowedUDPPorts
          allowedTCPPortRanges
          allowedUDPPortRanges
          extraCommands
          ;
      };
      planFirewall = plan.firewall;
      tmpfiles = c.systemd.tmpfiles.rules;
      sysctl = c.boot.kernel.sysctl;
      hasKubernetesModule = c ? services && c.services ? kubernetes;
    };
in
{
  schema = hive.__schema;
  # What that Colmena's CLI makes of the flake: processFlake reads
  # colmenaHive first and refuses a schema it does not know.
  cliAccepts =
    ((import (cliSrc + "/src/nix/hive/flake.nix")).outputs {
      self = { };
      hive = {
        inherit outputs;
      };
    }).processFlake.__schema;
  nodes = lib.mapAttrs report hive.nodes;
  # An OpenBao node (nixosModules.vault) beside the hive: TLS by path, reloaded on change.
  vault =
    let
      c =
        (stub.evalConfig {
          modules = [
            (flakeDir + "/nix/modules/vault.nix")
            {
              networking.hostName = "vault1";
              hak.vaultServer = {
                enable = true;
                address = "10.240.0.5";
                peers = [
                  "https://10.240.0.5:8200"
                  "https://10.240.0.6:8200"
                  "https://10.240.0.7:8200"
                ];
              };
            }
          ];
        }).config;
      unit = c.systemd.services.openbao.serviceConfig;
    in
    builtins.deepSeq c.systemd {
      failedAssertions = map (a: a.message) (builtins.filter (a: !a.assertion) c.assertions);
      listener = c.services.openbao.settings.listener.default;
      retryJoinCa = map (j: j.leader_ca_cert_file) c.services.openbao.settings.storage.raft.retry_join;
      loadCredential = unit.LoadCredential or null;
      supplementaryGroups = unit.SupplementaryGroups;
      pathUnit = c.systemd.paths.openbao-tls.pathConfig;
      reloadUnit = c.systemd.services.openbao-tls.serviceConfig.ExecStart;
      tmpfiles = c.systemd.tmpfiles.rules;
    };

  package =
    let
      hak = outputs.packages.x86_64-linux.hak;
      lock = builtins.fromJSON hak.npmDeps.packageLock;
    in
    {
      inherit (hak) name;
      resolved = lib.mapAttrs (_: p: p.resolved or null) lock.packages;
    };
}
