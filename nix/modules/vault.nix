# An OpenBao server of a 3-node cluster with integrated (raft) storage, for
# clusters that run their own Vault. Built on nixpkgs' services.openbao (RFC
# 42 settings, Type=notify, DynamicUser). OpenBao is used rather than
# HashiCorp Vault: same HTTP API, open-source licence (nixpkgs' `vault` is
# unfree, BSL).
#
# Its TLS certificate cannot come from hak-agent (the agent needs Vault to
# get one): the operator places the key and certificate on the host, outside
# the Nix store (by default in /var/lib/hak-openbao-tls, the plan's
# OPENBAO_TLS_DIR), readable by the group hak-openbao-tls, which the
# service (DynamicUser in nixpkgs) joins. OpenBao reads them by path, so a
# rotated pair is picked up by `systemctl reload openbao` (SIGHUP: OpenBao
# reloads its listener certificates), which a path unit runs whenever the
# certificate file changes: no restart, so the node is never sealed by a
# renewal. (systemd LoadCredential copies files once at start, which is why
# it is not used here.)
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
  tlsDir = "/var/lib/hak-openbao-tls";
  tlsGroup = "hak-openbao-tls";
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
        default = "${tlsDir}/tls.crt";
        description = "Server certificate (with chain), outside the Nix store; replace it atomically (rename) to rotate.";
      };
      keyFile = lib.mkOption {
        type = lib.types.str;
        default = "${tlsDir}/tls.key";
        description = "Its private key, outside the Nix store: mode 0640, owner root, group ${tlsGroup}.";
      };
      caFile = lib.mkOption {
        type = lib.types.str;
        default = "${tlsDir}/ca.crt";
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
          tls_cert_file = cfg.tls.certFile;
          tls_key_file = cfg.tls.keyFile;
          tls_min_version = "tls12";
        };
        storage.raft = {
          path = "/var/lib/openbao";
          node_id = cfg.nodeId;
          retry_join = map (url: {
            leader_api_addr = url;
            leader_ca_cert_file = cfg.tls.caFile;
          }) cfg.peers;
        };
      };
    };

    # The dynamic user reads the key through this group; the folder is not listable by others.
    users.groups.${tlsGroup} = { };
    systemd.tmpfiles.rules = [ "d ${tlsDir} 0750 root ${tlsGroup} -" ];
    systemd.services.openbao.serviceConfig.SupplementaryGroups = [ tlsGroup ];

    # A new certificate: SIGHUP (nixpkgs' ExecReload), never a restart.
    systemd.paths.openbao-tls = {
      description = "Reload OpenBao when its TLS certificate changes";
      wantedBy = [ "multi-user.target" ];
      pathConfig.PathChanged = [
        cfg.tls.certFile
        cfg.tls.keyFile
      ];
    };
    systemd.services.openbao-tls = {
      description = "Reload OpenBao's listener certificates (SIGHUP)";
      serviceConfig = {
        Type = "oneshot";
        ExecStart = "${config.systemd.package}/bin/systemctl reload openbao.service";
      };
    };

    networking.firewall.allowedTCPPorts = [
      8200
      8201
    ];
  };
}
