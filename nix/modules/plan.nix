# A hak host, from its plan: hive/plans/<host>.json as `hak-deploy hive`
# writes it (src/plan; docs/plan.md). Everything the host runs is in the plan
# (services with their program, arguments, environment and reload kind,
# files, directories, users, groups, firewall rules with their sources,
# routes, sysctls, the agent's config); this module only maps it onto NixOS:
#
# - each service -> systemd.services.<name>, ExecStart = the program's binary
#   (hak.programs: program -> package) followed by exactly the plan's args;
#   a file it reads changes -> reload (signal kind: ExecReload sends the
#   plan's signal) or restart (restart kind);
# - files -> environment.etc (outside /etc: a tmpfiles symlink into the store;
#   the plan holds no secret), directories -> tmpfiles, users and groups;
# - firewall rules without `from` -> allowed ports; with `from` -> rules
#   accepting those sources only (iptables or nftables, whichever is on);
# - the agent -> services.hak-agent with the plan's `agent` as its config.
#
# No IP arithmetic, profile table or topology here: a value missing from the
# plan belongs in src/plan. Overrides: hak.programs.<p>.package,
# hak.extraArgs.<service>, and every systemd/NixOS option as usual.
{
  config,
  lib,
  pkgs,
  ...
}:
let
  cfg = config.hak;
  hakLib = import ../lib;
  plan = cfg.plan;
  inherit (lib) mkOption types;

  unitName = n: "${n}.service";

  program = types.submodule (
    { name, ... }:
    {
      options = {
        package = mkOption {
          type = types.package;
          description = "Package providing the program.";
        };
        binary = mkOption {
          type = types.str;
          default = "bin/${name}";
          description = "The program inside the package.";
        };
        path = mkOption {
          type = types.listOf types.package;
          default = [ ];
          description = "Packages on the unit's PATH (tools the program runs itself).";
        };
        tools = mkOption {
          type = types.listOf types.package;
          default = [ ];
          description = "Packages for operators and `hak-deploy check` on hosts that run the program.";
        };
        serviceConfig = mkOption {
          type = types.attrsOf (
            types.oneOf [
              types.bool
              types.int
              types.str
              (types.listOf types.str)
            ]
          );
          default = { };
          description = "Unit settings the program needs (Type=notify, Delegate, KillMode, ...).";
        };
      };
    }
  );

  kubernetesProgram = extra: { package = lib.mkDefault pkgs.kubernetes; } // extra;

  # A file of the plan: in /etc through environment.etc, elsewhere a symlink.
  etcFiles = builtins.filter (f: hakLib.etcName f.path != null) plan.files;
  otherFiles = builtins.filter (f: hakLib.etcName f.path == null) plan.files;

  serviceUnit =
    s:
    let
      prog =
        cfg.programs.${s.program}
          or (throw "hak: ${toString cfg.planFile}: service ${s.name} runs `${s.program}`, which hak.programs maps to no package; set hak.programs.${s.program}.package");
      contents = map (f: f.content) (hakLib.usedBy plan s.name);
      after = [
        "network-online.target"
        "hak-agent.service"
      ]
      ++ map unitName s.after;
      ownUser = s ? user && s.user != "root";
      caps = s.capabilities or [ ];
    in
    {
      inherit (s) description;
      wantedBy = [ "multi-user.target" ];
      wants = after;
      inherit after;
      inherit (prog) path;
      environment = s.env or { };
      restartTriggers = lib.optionals (s.reload.kind == "restart") contents;
      reloadTriggers = lib.optionals (s.reload.kind == "signal") contents;
      serviceConfig = {
        ExecStart = hakLib.execStart "${prog.package}/${prog.binary}" (
          s.args ++ cfg.extraArgs.${s.name} or [ ]
        );
        Restart = "always";
        RestartSec = "5s";
      }
      // lib.optionalAttrs ownUser (
        hakLib.systemdSandbox
        // {
          User = s.user;
          Group = s.group or s.user;
          # Its own directories of the plan are all it writes.
          ReadWritePaths = map (d: d.path) (builtins.filter (d: (d.owner or "root") == s.user) plan.directories);
          CapabilityBoundingSet = if caps == [ ] then [ "" ] else caps;
        }
      )
      // lib.optionalAttrs (caps != [ ]) { AmbientCapabilities = caps; }
      // lib.optionalAttrs (s.reload.kind == "signal") {
        ExecReload = "${pkgs.coreutils}/bin/kill -s ${s.reload.signal} $MAINPID";
      }
      // prog.serviceConfig;
    };

  programsUsed = map (s: cfg.programs.${s.program}) (
    builtins.filter (s: cfg.programs ? ${s.program}) plan.services
  );
  bridgeSysctls = builtins.any (k: lib.hasPrefix "net.bridge." k) (builtins.attrNames plan.sysctl);
  useNftables = config.networking.nftables.enable;
in
{
  imports = [ ./hak-agent.nix ];

  options.hak = {
    planFile = mkOption {
      type = types.path;
      example = lib.literalExpression "./hive/plans/etcd1.json";
      description = "This host's plan, as `hak-deploy hive` writes it (hive/plans/<host>.json).";
    };

    plan = mkOption {
      type = types.attrsOf types.anything;
      default = hakLib.readPlan cfg.planFile;
      defaultText = lib.literalExpression "hak.lib.readPlan config.hak.planFile";
      description = "The plan itself (read from planFile). Change the inventory, not this.";
    };

    programs = mkOption {
      type = types.attrsOf program;
      default = { };
      description = "The package of each program a plan service runs.";
    };

    extraArgs = mkOption {
      type = types.attrsOf (types.listOf types.str);
      default = { };
      example = {
        kube-apiserver = [ "--audit-log-path=/var/log/kubernetes/audit.log" ];
      };
      description = "Arguments appended to a plan service's own (no secrets: they land in the store).";
    };

    cni = {
      package = mkOption {
        type = types.package;
        default = pkgs.cni-plugins;
        defaultText = lib.literalExpression "pkgs.cni-plugins";
        description = "CNI plugins linked into the plan's CNI binary folder on Kubernetes nodes.";
      };
      plugins = mkOption {
        type = types.listOf types.str;
        # The plan names them (its CNI config's plugins and containerd's loopback).
        default = plan.cniPlugins;
        defaultText = lib.literalExpression "the plan's cniPlugins";
        description = "Plugins to link.";
      };
      binDir = mkOption {
        type = types.nullOr types.str;
        # Nodes' plans name it; other hosts link no plugins.
        default = plan.cniBinDir or null;
        defaultText = lib.literalExpression "the plan's cniBinDir";
        description = "The folder containerd's CNI config (from the plan) looks in.";
      };
    };
  };

  config = {
    hak.programs = {
      kube-apiserver = kubernetesProgram { tools = [ pkgs.kubectl ]; };
      kube-controller-manager = kubernetesProgram { };
      kube-scheduler = kubernetesProgram { };
      kubelet = kubernetesProgram {
        # What the kubelet runs itself: mounts, the container runtime's tools.
        path = with pkgs; [
          util-linux
          iproute2
          iptables
          ethtool
          socat
          conntrack-tools
        ];
      };
      kube-proxy = kubernetesProgram {
        path = with pkgs; [
          iptables
          nftables
          conntrack-tools
        ];
      };
      etcd = {
        package = lib.mkDefault pkgs.etcd;
        # etcdctl for operators and `hak-deploy check` / the apply gate.
        tools = [ pkgs.etcd ];
        serviceConfig.Type = "notify";
      };
      containerd = {
        package = lib.mkDefault pkgs.containerd;
        path = [
          pkgs.runc
          pkgs.iptables
        ];
        # As containerd's own unit: containers outlive a containerd restart.
        serviceConfig = {
          Type = "notify";
          Delegate = "yes";
          KillMode = "process";
          LimitNOFILE = "infinity";
          OOMScoreAdjust = -999;
        };
      };
      coredns.package = lib.mkDefault pkgs.coredns;
      haproxy = {
        package = lib.mkDefault pkgs.haproxy;
        # -Ws: master-worker mode with sd_notify.
        serviceConfig.Type = "notify";
      };
      keepalived = {
        package = lib.mkDefault pkgs.keepalived;
        binary = "sbin/keepalived";
      };
    };

    networking.hostName = lib.mkDefault plan.host.name;

    services.hak-agent = {
      enable = true;
      settings = plan.agent;
    };

    systemd.services = builtins.listToAttrs (
      map (s: {
        inherit (s) name;
        value = serviceUnit s;
      }) plan.services
    )
    // lib.optionalAttrs (plan.routes != [ ]) {
      # Other nodes' pod subnets via those nodes (the plan's routes).
      hak-routes = {
        description = "hak: routes to the other nodes' pod subnets";
        wantedBy = [ "multi-user.target" ];
        after = [ "network-online.target" ];
        wants = [ "network-online.target" ];
        path = [ pkgs.iproute2 ];
        script = lib.concatLines (hakLib.routeCommands plan);
        serviceConfig = {
          Type = "oneshot";
          RemainAfterExit = true;
        };
      };
    };

    environment.etc = builtins.listToAttrs (
      map (f: {
        name = hakLib.etcName f.path;
        value = {
          text = f.content;
          inherit (f) mode;
          user = f.owner or "root";
          group = f.group or "root";
        };
      }) etcFiles
    );

    systemd.tmpfiles.rules =
      hakLib.tmpfilesRules plan
      ++ map (f: "L+ ${f.path} - - - - ${pkgs.writeText (baseNameOf f.path) f.content}") otherFiles
      ++ lib.optionals plan.host.node (
        map (p: "L+ ${cfg.cni.binDir}/${p} - - - - ${cfg.cni.package}/bin/${p}") cfg.cni.plugins
      );

    users.users = builtins.listToAttrs (
      map (u: {
        inherit (u) name;
        value = {
          isSystemUser = true;
          inherit (u) group extraGroups;
        }
        // lib.optionalAttrs (u ? home) { inherit (u) home; };
      }) plan.users
    );
    users.groups = lib.genAttrs plan.groups (_: { });

    # Every inventory host by name and FQDN: the apiservers dial kubelets by name.
    networking.hosts = builtins.listToAttrs (
      map (h: {
        name = h.address;
        value = h.names;
      }) plan.hostNames
    );

    boot.kernel.sysctl = plan.sysctl;
    boot.kernelModules = lib.optional bridgeSysctls "br_netfilter";

    networking.firewall = {
      enable = lib.mkDefault true;
      allowedTCPPorts = hakLib.openPorts plan.firewall.tcp;
      allowedTCPPortRanges = hakLib.openRanges plan.firewall.tcp;
      allowedUDPPorts = hakLib.openPorts plan.firewall.udp;
      allowedUDPPortRanges = hakLib.openRanges plan.firewall.udp;
    }
    // (
      if useNftables then
        { extraInputRules = lib.concatLines (hakLib.nftablesRules plan.firewall); }
      else
        { extraCommands = lib.concatLines (hakLib.iptablesCommands plan.firewall); }
    );

    environment.systemPackages = lib.unique (builtins.concatMap (p: p.tools) programsUsed);
  };
}
