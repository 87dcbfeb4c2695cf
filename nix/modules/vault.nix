# An OpenBao server of a 3-node cluster with integrated (raft) storage, for
# clusters that run their own Vault. Built on nixpkgs' services.openbao (RFC
# 42 settings, Type=notify, DynamicUser). OpenBao is used rather than
# HashiCorp Vault: same HTTP API, open-source licence (nixpkgs' `vault` is
# unfree, BSL).
#
# Its TLS certificate cannot come from hak-agent (the agent needs Vault to
# get one): the operator places the key and certificate on the host, outside
# the Nix store, and systemd hands them to the service as credentials.
# Initialising and unsealing stay with the operator (`bao operator init`,
# then unseal each node); keys and tokens never pass through Nix.
{
  config,
  lib,
  ...
}:
let
  cfg = config.hak.vaultServer;
  urlHost = a: if lib.hasInfix ":" a then "[${a}]" else a;
  credential = name: "/run/credentials/openbao.service/${name}";
in
{
  imports = [
    ./vault-audit-rotate.nix
    ./vault-raft.nix
  ];

  options.hak.vaultServer = {
    enable = lib.mkEnableOption "an OpenBao server node (raft storage) for hak";

    nodeId = lib.mkOption {
      type = lib.types.str;
      default = config.networking.hostName;
      defaultText = lib.literalExpression "config.networking.hostName";
    };

    address = lib.mkOption {
      type = lib.types.str;
      example = "10.240.0.5";
      description = "This node's address: API on port 8200, raft cluster traffic on 8201.";
    };

    peers = lib.mkOption {
      type = lib.types.listOf lib.types.str;
      example = [
        "https://10.240.0.5:8200"
        "https://10.240.0.6:8200"
        "https://10.240.0.7:8200"
      ];
      description = ''
        API URLs of every node (this one included), which raft retry_join
        tries; the inventory's `vault.addresses` is the natural value.
      '';
    };

    tls = {
      certFile = lib.mkOption {
        type = lib.types.str;
        example = "/var/lib/hak-vault-tls/tls.crt";
        description = "Server certificate (with chain), outside the Nix store.";
      };
      keyFile = lib.mkOption {
        type = lib.types.str;
        example = "/var/lib/hak-vault-tls/tls.key";
        description = "Its private key (root-only), outside the Nix store.";
      };
      caFile = lib.mkOption {
        type = lib.types.str;
        description = "CA bundle that signed the nodes' certificates (raft peers verify each other with it).";
      };
    };
  };

  config = lib.mkIf cfg.enable {
    assertions = [
      {
        assertion = lib.all (f: !lib.hasPrefix builtins.storeDir f) [
          cfg.tls.certFile
          cfg.tls.keyFile
        ];
        message = "hak.vaultServer.tls.* must be paths outside the Nix store";
      }
      {
        assertion = builtins.length cfg.peers >= 3 && lib.mod (builtins.length cfg.peers) 2 == 1;
        message = "hak.vaultServer.peers: raft needs an odd number of nodes, at least 3";
      }
    ];

    services.openbao = {
      enable = true;
      settings = {
        ui = true;
        api_addr = "https://${urlHost cfg.address}:8200";
        cluster_addr = "https://${urlHost cfg.address}:8201";
        disable_mlock = true; # raft storage; mlock is not supported with it
        listener.default = {
          type = "tcp";
          address = "${urlHost cfg.address}:8200";
          cluster_address = "${urlHost cfg.address}:8201";
          tls_cert_file = credential "tls.crt";
          tls_key_file = credential "tls.key";
          tls_min_version = "tls12";
        };
        storage.raft = {
          path = "/var/lib/openbao";
          node_id = cfg.nodeId;
          retry_join = map (url: {
            leader_api_addr = url;
            leader_ca_cert_file = credential "ca.crt";
          }) cfg.peers;
        };
      };
    };

    systemd.services.openbao.serviceConfig.LoadCredential = [
      "tls.crt:${cfg.tls.certFile}"
      "tls.key:${cfg.tls.keyFile}"
      "ca.crt:${cfg.tls.caFile}"
    ];

    networking.firewall.allowedTCPPorts = [
      8200
      8201
    ];
  };
}
