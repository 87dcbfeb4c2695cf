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
      boot = stub;
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

  evalConfig =
    modules:
    (lib.evalModules {
      specialArgs = { inherit pkgs; };
      modules = [ stubs ] ++ modules;
    }).config;

  failedAssertions = c: map (a: a.message) (builtins.filter (a: !a.assertion) c.assertions);

  evalHost =
    host: extra:
    let
      c = evalConfig [
        ../../nix/modules/hak-agent.nix
        ../../nix/modules/cluster.nix
        roleModule.${host.role}
        extra
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
      units = c.systemd.services;
    in
    {
      inherit (host) role;
      failedAssertions = failedAssertions c;
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
  firstOf = role: builtins.head (hakLib.hostsWithRole inv role);

  vaultNode =
    peers:
    let
      c = evalConfig [
        ../../nix/modules/vault.nix
        {
          networking.hostName = "vault1";
          hak.vaultServer = {
            enable = true;
            address = "10.240.0.5";
            inherit peers;
            tls = {
              certFile = "/var/lib/hak-vault-tls/tls.crt";
              keyFile = "/var/lib/hak-vault-tls/tls.key";
              caFile = "/var/lib/hak-vault-tls/ca.crt";
            };
          };
        }
      ];
    in
    {
      failedAssertions = failedAssertions c;
      settings = c.services.openbao.settings;
      credentials = c.systemd.services.openbao.serviceConfig.LoadCredential;
    };
in
{
  hosts = builtins.listToAttrs (
    map (h: {
      inherit (h) name;
      value = evalHost h { };
    }) inv.hosts
  );

  # Options away from the defaults.
  variants = {
    worker-cilium-no-kube-proxy = evalHost (firstOf "worker") {
      hak.worker = {
        cni = "cilium";
        kubeProxy = false;
      };
    };
    loadbalancer-vrrp-auth = evalHost (firstOf "loadbalancer") {
      hak.loadbalancer.authSecretFile = "/var/lib/hak-keepalived/vrrp.env";
    };
    loadbalancer-secret-in-store = evalHost (firstOf "loadbalancer") {
      hak.loadbalancer.authSecretFile = "/nix/store/00000000000000000000000000000000-vrrp.env";
    };
    vault = vaultNode inv.vault.addresses;
    vault-two-peers = vaultNode (lib.take 2 inv.vault.addresses);
  };
}
