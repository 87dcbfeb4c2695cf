# Evaluates hak's NixOS modules for every host of an inventory with
# nixpkgs' lib.evalModules, without nixpkgs itself: the options the modules
# set outside their own (systemd, users, networking, each services.<x>) are
# declared as stubs that accept anything. So it checks that the modules
# evaluate, that their assertions hold, and what they produce: the agent's
# JSON config, the units, the daemons' flags. Local only (CI cannot fetch
# nixpkgs' lib): scripts/nix-eval-modules.sh runs it.
{
  # Path of a nixpkgs lib checkout (nix-community/nixpkgs.lib: its lib/).
  nixpkgsLib,
  # hive/inventory.json as `hak-deploy hive` writes it.
  inventoryFile,
}:
let
  lib = import nixpkgsLib;
  hakLib = import ../../nix/lib;
  inv = hakLib.readInventory inventoryFile;
  inherit (lib) mkOption types;

  stub = mkOption {
    type = types.lazyAttrsOf types.anything;
    default = { };
  };

  # Only what the modules take from pkgs; derivations become fake store paths.
  fakePackage = name: "/nix/store/00000000000000000000000000000000-${name}";
  pkgs = {
    formats.json =
      { }:
      {
        type = types.attrsOf types.anything;
        generate = name: _value: fakePackage name;
      };
    kubernetes = fakePackage "kubernetes";
    kubectl = fakePackage "kubectl";
    etcd = fakePackage "etcd";
    curl = fakePackage "curl";
  };

  stubs = {
    options = {
      assertions = mkOption {
        type = types.listOf types.anything;
        default = [ ];
      };
      systemd = stub;
      users = stub;
      networking = stub;
      environment = stub;
      services = {
        etcd = stub;
        haproxy = stub;
        keepalived = stub;
        kubernetes = stub;
        coredns = stub;
        flannel = stub;
        openbao = stub;
      };
    };
    config = {
      systemd.package = fakePackage "systemd";
      services.kubernetes.lib.mkKubeConfig = name: _conf: fakePackage "${name}-kubeconfig";
    };
  };

  roleModule = {
    etcd = ../../nix/modules/etcd.nix;
    controlplane = ../../nix/modules/controlplane.nix;
    worker = ../../nix/modules/worker.nix;
    loadbalancer = ../../nix/modules/loadbalancer.nix;
  };

  evalHost =
    host:
    let
      c =
        (lib.evalModules {
          specialArgs = { inherit pkgs; };
          modules = [
            stubs
            ../../nix/modules/hak-agent.nix
            ../../nix/modules/cluster.nix
            roleModule.${host.role}
            {
              services.hak-agent.package = fakePackage "hak";
              hak = {
                inventory = inv;
                hostName = host.name;
                ${host.role} = {
                  enable = true;
                }
                // lib.optionalAttrs (host.role == "loadbalancer") { interface = "eth0"; };
              };
            }
          ];
        }).config;
      units = c.systemd.services;
    in
    {
      inherit (host) role;
      failedAssertions = map (a: a.message) (builtins.filter (a: !a.assertion) c.assertions);
      agentSettings = c.services.hak-agent.settings;
      agentUnit = {
        inherit (units.hak-agent) wantedBy before;
        serviceConfig = builtins.removeAttrs units.hak-agent.serviceConfig [ "ExecStart" ];
      };
      execStart = lib.mapAttrs (_: u: u.serviceConfig.ExecStart or null) (
        builtins.removeAttrs units [ "hak-agent" ]
      );
      etcd = if host.role == "etcd" then c.services.etcd else null;
      kubelet = if host.role == "worker" then c.services.kubernetes.kubelet else null;
      haproxy = if host.role == "loadbalancer" then c.services.haproxy.config else null;
      keepalived = if host.role == "loadbalancer" then c.services.keepalived.vrrpInstances else null;
    };
in
builtins.listToAttrs (
  map (h: {
    inherit (h) name;
    value = evalHost h;
  }) inv.hosts
)
