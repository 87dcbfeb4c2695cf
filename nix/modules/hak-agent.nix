# services.hak-agent: the node agent that keeps this host's certificates,
# keys, CA bundles, kubeconfigs and the service-account pair on disk, signed
# by Vault/OpenBao, and reloads the units that read them.
#
# `settings` is RFC 42 style: a free-form attribute set rendered to the
# agent's JSON config (see docs/agent-config.md); nix/modules/plan.nix sets
# it to the host plan's `agent`, unchanged, so a host runs exactly the config
# the tests run. Every value lands in the world-readable Nix store, so it
# holds paths only, never a secret: the one secret, the single-use AppRole
# secret ID, is a file outside the store written by `hak-deploy enroll`.
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

  # The units the agent acts on after a change (restart, reload, signal):
  # pulled in with it. Their order after it is theirs (nix/modules/plan.nix).
  actionUnits = lib.unique (
    builtins.concatMap (o: map (a: a.unit) (o.actions or [ ])) (cfg.settings.outputs or [ ])
  );
  # Where it keeps state: the folder of the secret ID (the plan's agent state dir).
  stateDir = builtins.dirOf (cfg.settings.auth.secretIdFile or "/var/lib/hak-agent/secret-id");
in
{
  options.services.hak-agent = {
    enable = mkEnableOption "hak-agent, the Vault/OpenBao certificate agent of hak";

    package = mkOption {
      type = types.package;
      defaultText = literalExpression "hak.packages.\${system}.hak";
      description = "The hak package (provides bin/hak-agent).";
    };

    settings = mkOption {
      type = format.type;
      default = { };
      description = ''
        The agent's JSON configuration (docs/agent-config.md): the host
        plan's `agent`, as is (nix/modules/plan.nix sets it). Paths only:
        this file is in the Nix store, readable by every user of the host.
      '';
    };
  };

  config = mkIf cfg.enable {
    assertions = [
      {
        assertion = !lib.hasPrefix builtins.storeDir (cfg.settings.auth.secretIdFile or "");
        message = "services.hak-agent.settings.auth.secretIdFile must be outside the Nix store (it holds a secret)";
      }
    ];

    # Where `hak-agent check` and a person look (the plan's agent config path).
    environment.etc."hak/agent.json".source = configFile;
    environment.systemPackages = [
      cfg.package
      pkgs.curl
    ];

    systemd.services.hak-agent = {
      description = "hak-agent: certificates and keys from Vault/OpenBao";
      wantedBy = [ "multi-user.target" ];
      # systemctl for the actions, systemd-notify for readiness.
      path = [ config.systemd.package ];
      wants = [ "network-online.target" ] ++ actionUnits;
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

        # Its folders (and their modes) are the plan's directories (tmpfiles).
        # The agent gives every file its mode explicitly (keys 0600/0640);
        # its generation folders must stay 0755 for the consumers to reach
        # their files, so no tighter umask here.
        UMask = "0022";
        ReadWritePaths = [ stateDir ];

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
