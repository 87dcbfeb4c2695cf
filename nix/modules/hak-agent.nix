# services.hak-agent: the node agent that keeps this host's certificates,
# keys, CA bundles, kubeconfigs and the service-account pair on disk, signed
# by Vault/OpenBao, and reloads the units that read them.
#
# `settings` is RFC 42 style: a free-form attribute set rendered to the
# agent's JSON config (see docs/agent-config.md). Role modules add `outputs`;
# every value in it lands in the world-readable Nix store, so it holds paths
# only, never a secret: the one secret, the single-use AppRole secret ID, is a
# file outside the store written by `hak-deploy enroll`.
{
  config,
  lib,
  pkgs,
  ...
}:
let
  cfg = config.services.hak-agent;
  hakLib = import ../lib;
  inherit (lib)
    literalExpression
    mkEnableOption
    mkIf
    mkOption
    types
    ;

  format = pkgs.formats.json { };
  configFile = format.generate "hak-agent.json" cfg.settings;

  action = types.submodule {
    options = {
      type = mkOption {
        type = types.enum [
          "reload-or-restart"
          "restart"
          "signal"
        ];
        default = "reload-or-restart";
        description = "What to do to the unit after the output changed.";
      };
      unit = mkOption {
        type = types.str;
        example = "kube-apiserver.service";
      };
      signal = mkOption {
        type = types.nullOr types.str;
        default = null;
        example = "SIGHUP";
        description = "Signal to send when type is signal.";
      };
    };
  };

  # One file (or certificate/key/CA set) the agent maintains. The common
  # part: who owns it, its mode, and which units it reloads after a change.
  output = types.submodule {
    options = {
      type = mkOption {
        type = types.enum [
          "certificate"
          "kubeconfig"
          "secret"
        ];
      };
      profile = mkOption {
        type = types.nullOr types.str;
        default = null;
        description = "Profile of a certificate output (src/common/profiles.ts); null for kubeconfig and secret outputs.";
      };
      owner = mkOption {
        type = types.str;
        default = "root";
      };
      group = mkOption {
        type = types.str;
        default = "root";
      };
      mode = mkOption {
        type = types.strMatching "0[0-7]{3}";
        default = "0600";
        description = "Mode of the private parts (key, kubeconfig, secret); certificates and CA bundles get it plus read for everyone.";
      };
      units = mkOption {
        type = types.listOf types.str;
        default = [ ];
        description = "Units that read this output: started after the agent is ready.";
      };
      actions = mkOption {
        type = types.listOf action;
        default = [ ];
        description = "What the agent does after the output changed (debounced per unit).";
      };
      extra = mkOption {
        type = format.type;
        default = { };
        description = "Type-specific fields, as the agent's config schema names them.";
      };
    };
  };

  # Units that read the agent's files: ordered after it, pulled in with it.
  consumerUnits = hakLib.consumerUnits cfg.outputs;
in
{
  options.services.hak-agent = {
    enable = mkEnableOption "hak-agent, the Vault/OpenBao certificate agent of hak";

    package = mkOption {
      type = types.package;
      defaultText = literalExpression "hak.packages.\${system}.hak";
      description = "The hak package (provides bin/hak-agent).";
    };

    secretIdFile = mkOption {
      type = types.str;
      default = hakLib.paths.secretIdFile;
      description = ''
        Where `hak-deploy enroll` puts the single-use AppRole secret ID (mode
        0600). A plain string, never a Nix path: a path would be copied into
        the world-readable store.
      '';
    };

    listenAddress = mkOption {
      type = types.str;
      default = hakLib.paths.agentListenAddress;
      description = "Address of /healthz, /readyz and /metrics.";
    };

    outputs = mkOption {
      type = types.attrsOf output;
      default = { };
      description = "What the agent maintains; set by the role modules, rendered into settings.outputs.";
    };

    settings = mkOption {
      type = format.type;
      default = { };
      description = ''
        The agent's JSON configuration (RFC 42). Paths only: this file is in
        the Nix store, readable by every user of the host.
      '';
    };
  };

  config = mkIf cfg.enable {
    assertions = [
      {
        assertion = !lib.hasPrefix builtins.storeDir cfg.secretIdFile;
        message = "services.hak-agent.secretIdFile must be outside the Nix store (it holds a secret)";
      }
    ];

    services.hak-agent.settings = {
      listen = lib.mkDefault cfg.listenAddress;
      auth.secretIdFile = lib.mkDefault cfg.secretIdFile;
      outputs = hakLib.renderOutputs cfg.outputs;
    };

    environment.etc."hak-agent/config.json".source = configFile;
    environment.systemPackages = [
      cfg.package
      pkgs.curl
    ];

    systemd.services.hak-agent = {
      description = "hak-agent: certificates and keys from Vault/OpenBao";
      wantedBy = [ "multi-user.target" ] ++ consumerUnits;
      before = consumerUnits;
      # systemctl for the actions, systemd-notify for readiness.
      path = [ config.systemd.package ];
      wants = [ "network-online.target" ];
      after = [ "network-online.target" ];
      # Its own config change restarts it (the store path is in ExecStart).
      serviceConfig = hakLib.systemdSandbox // {
        Type = "notify";
        # The agent may report readiness through systemd-notify, a child.
        NotifyAccess = "all";
        ExecStart = "${cfg.package}/bin/hak-agent run ${configFile}";
        Restart = "always";
        RestartSec = "5s";
        # Readiness waits for every output; the first issuance may wait on Vault.
        TimeoutStartSec = "10min";

        StateDirectory = "hak-agent hak-agent/certs hak-agent/kubeconfigs";
        # Traverse only: consumers reach their own files, nobody lists the
        # directory; the secret ID inside stays 0600 root.
        StateDirectoryMode = "0711";
        # The agent gives every file its mode explicitly (keys 0600/0640);
        # its generation folders must stay 0755 for the consumers to reach
        # their files, so no tighter umask here.
        UMask = "0022";
        ReadWritePaths = [ hakLib.paths.stateDir ];

        # Root (systemd accepts `systemctl restart` from UID 0 only), with
        # just the capabilities to hand files to their consumers.
        CapabilityBoundingSet = [
          "CAP_CHOWN" # create files owned by etcd, kubernetes, ...
          "CAP_FOWNER" # set their mode and replace them
          "CAP_DAC_READ_SEARCH" # read a consumer-owned key back on restart
        ];
        AmbientCapabilities = [ ];
        ProtectKernelLogs = true;
        ProtectClock = true;
        ProtectHostname = true;
        ProtectProc = "invisible";
        ProcSubset = "pid";
        RestrictAddressFamilies = [
          "AF_UNIX"
          "AF_INET"
          "AF_INET6"
        ];
        RestrictNamespaces = true;
        RestrictRealtime = true;
        MemoryDenyWriteExecute = false; # V8's JIT needs W+X pages
        RemoveIPC = true;
        SystemCallFilter = [
          "@system-service"
          "~@privileged"
          "@chown"
        ];
        SystemCallErrorNumber = "EPERM";
      };
    };
  };
}
