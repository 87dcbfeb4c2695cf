# A stand-in for nixpkgs' nixos/lib/eval-config.nix, for evaluating hak's
# modules through Colmena's real makeHive without nixpkgs (too large to bring
# here). NAMED STAND-IN: it is lib.evalModules (the real one, from
# nix-community/nixpkgs.lib) over declarations of exactly the NixOS options
# hak and Colmena set, each with the type nixpkgs gives it (read from
# nixos/lib/systemd-unit-options.nix, nixos/modules/system/etc/etc.nix,
# config/users-groups.nix, services/networking/firewall*.nix,
# services/security/openbao.nix, config/sysctl.nix, misc/assertions.nix),
# never `anything` where nixpkgs is stricter. `_module.check` stays on: an
# option hak sets that is not declared here is an error, as on NixOS. What it
# cannot show: nixpkgs' own implementation of these options (unit files,
# activation, the openbao module's unit), and options nixpkgs has that are
# missing here. Used by test/nix/eval-hive.nix (scripts/nix-eval-hive.sh).
{ lib }:
let
  inherit (lib) mkOption types;

  # A package the modules only name: a derivation-shaped set with a store path.
  fakePackage = name: {
    type = "derivation";
    inherit name;
    outPath = "${builtins.storeDir}/00000000000000000000000000000000-${name}";
    drvPath = "${builtins.storeDir}/00000000000000000000000000000000-${name}.drv";
  };

  jsonType =
    let
      valueType =
        types.nullOr (
          types.oneOf [
            types.bool
            types.int
            types.float
            types.str
            types.path
            (types.attrsOf valueType)
            (types.listOf valueType)
          ]
        )
        // {
          description = "JSON value";
        };
    in
    valueType;

  pkgs =
    lib.genAttrs [
      "kubernetes"
      "kubectl"
      "etcd"
      "containerd"
      "runc"
      "coredns"
      "haproxy"
      "keepalived"
      "cni-plugins"
      "iptables"
      "nftables"
      "conntrack-tools"
      "util-linux"
      "iproute2"
      "ethtool"
      "socat"
      "coreutils"
      "curl"
      "openbao"
      "nodejs_22"
      "cacert"
      "inotify-tools"
    ] fakePackage
    // {
      formats.json = _: {
        type = jsonType;
        generate = name: value: fakePackage name // { json = builtins.toJSON value; };
      };
      writeText = name: text: fakePackage name // { inherit text; };
      runCommand = name: env: _script: fakePackage name // env;
      # nix/package.nix's builders, recording what they were given.
      buildNpmPackage = attrs: fakePackage "${attrs.pname}-${attrs.version}" // { inherit (attrs) npmDeps; };
      stdenv.hostPlatform.system = "x86_64-linux";
      stdenvNoCC.mkDerivation = attrs: fakePackage attrs.name // { inherit (attrs) outputHash outputHashMode; };
      importNpmLock.npmConfigHook = fakePackage "npm-config-hook";
      callPackage =
        f: args:
        let
          fn = if builtins.isFunction f then f else import f;
        in
        fn (builtins.intersectAttrs (builtins.functionArgs fn) (pkgs // { inherit lib; }) // args);
    };

  # nixos/lib/systemd-unit-options.nix: unitOption merges lists by
  # concatenation and scalars only when equal; unitNameType.
  unitOption = lib.mkOptionType {
    name = "systemd option";
    merge =
      loc: defs:
      let
        defs' = lib.filterOverrides defs;
      in
      if builtins.isList (builtins.head defs').value then
        builtins.concatMap (
          d:
          if builtins.isList d.value then
            d.value
          else
            throw "The definitions for systemd unit options should be either all lists or all non-lists: ${lib.showOption loc}"
        ) defs'
      else
        lib.mergeEqualOption loc defs';
  };
  unitName = types.strMatching "[a-zA-Z0-9@%:_.\\-]+[.](service|socket|device|mount|automount|swap|target|path|timer|scope|slice)";
  units = mkOption {
    type = types.listOf unitName;
    default = [ ];
  };
  # checkService: Type and Restart must be values systemd knows.
  serviceConfigType = types.addCheck (types.attrsOf unitOption) (
    c:
    (!(c ? Type) || builtins.elem c.Type [
      "exec"
      "simple"
      "forking"
      "oneshot"
      "dbus"
      "notify"
      "notify-reload"
      "idle"
    ])
    && (!(c ? Restart) || builtins.elem c.Restart [
      "no"
      "on-success"
      "on-failure"
      "on-abnormal"
      "on-abort"
      "on-watchdog"
      "always"
    ])
  );
  commonUnit = {
    enable = mkOption {
      type = types.bool;
      default = true;
    };
    description = mkOption {
      type = types.singleLineStr;
      default = "";
    };
    wantedBy = units;
    requiredBy = units;
    wants = units;
    requires = units;
    after = units;
    before = units;
    partOf = units;
    unitConfig = mkOption {
      type = types.attrsOf unitOption;
      default = { };
    };
    restartTriggers = mkOption {
      type = types.listOf types.unspecified;
      default = [ ];
    };
    reloadTriggers = mkOption {
      type = types.listOf unitOption;
      default = [ ];
    };
  };
  service = types.submodule {
    options = commonUnit // {
      environment = mkOption {
        type = types.attrsOf (
          types.nullOr (
            types.oneOf [
              types.str
              types.path
              types.package
            ]
          )
        );
        default = { };
      };
      path = mkOption {
        type = types.listOf (
          types.oneOf [
            types.package
            types.str
          ]
        );
        default = [ ];
      };
      serviceConfig = mkOption {
        type = serviceConfigType;
        default = { };
      };
      script = mkOption {
        type = types.lines;
        default = "";
      };
      preStart = mkOption {
        type = types.lines;
        default = "";
      };
      restartIfChanged = mkOption {
        type = types.bool;
        default = true;
      };
    };
  };
  pathUnit = types.submodule {
    options = commonUnit // {
      pathConfig = mkOption {
        type = types.attrsOf unitOption;
        default = { };
      };
    };
  };
  # nixos/lib/systemd-unit-options.nix: a timer unit (vault-audit-rotate.nix's size check).
  timerUnit = types.submodule {
    options = commonUnit // {
      timerConfig = mkOption {
        type = types.attrsOf unitOption;
        default = { };
      };
    };
  };

  port = types.port;
  portRange = types.submodule {
    options = {
      from = mkOption { type = port; };
      to = mkOption { type = port; };
    };
  };

  options = {
    assertions = mkOption {
      type = types.listOf types.unspecified;
      default = [ ];
    };
    warnings = mkOption {
      type = types.listOf types.str;
      default = [ ];
    };

    # What Colmena's eval.nix sets on every node (nixpkgs.nix).
    nixpkgs.overlays = mkOption {
      type = types.listOf (lib.mkOptionType {
        name = "nixpkgs-overlay";
        check = lib.isFunction;
        merge = lib.mergeOneOption;
      });
      default = [ ];
    };
    nixpkgs.config = mkOption {
      type = lib.mkOptionType {
        name = "nixpkgs-config";
        check = x: builtins.isAttrs x || lib.isFunction x;
        merge = _: defs: builtins.foldl' (a: d: lib.recursiveUpdate a d.value) { } defs;
      };
      default = { };
    };
    system.activationScripts = mkOption {
      type = types.attrsOf (
        types.either types.str (
          types.submodule {
            options = {
              text = mkOption { type = types.lines; };
              deps = mkOption {
                type = types.listOf types.str;
                default = [ ];
              };
            };
          }
        )
      );
      default = { };
    };

    systemd.package = mkOption {
      type = types.package;
      default = fakePackage "systemd";
    };
    systemd.services = mkOption {
      type = types.attrsOf service;
      default = { };
    };
    systemd.paths = mkOption {
      type = types.attrsOf pathUnit;
      default = { };
    };
    systemd.timers = mkOption {
      type = types.attrsOf timerUnit;
      default = { };
    };
    systemd.tmpfiles.rules = mkOption {
      type = types.listOf types.str;
      default = [ ];
    };

    # nixos/modules/system/etc/etc.nix
    environment.etc = mkOption {
      type = types.attrsOf (
        types.submodule (
          { name, config, ... }:
          {
            options = {
              enable = mkOption {
                type = types.bool;
                default = true;
              };
              target = mkOption {
                type = types.str;
                default = name;
              };
              text = mkOption {
                type = types.nullOr types.lines;
                default = null;
              };
              source = mkOption { type = types.path; };
              mode = mkOption {
                type = types.str;
                default = "symlink";
              };
              uid = mkOption {
                type = types.int;
                default = 0;
              };
              gid = mkOption {
                type = types.int;
                default = 0;
              };
              user = mkOption {
                type = types.str;
                default = "+${toString config.uid}";
              };
              group = mkOption {
                type = types.str;
                default = "+${toString config.gid}";
              };
            };
            config.source = lib.mkIf (config.text != null) (
              lib.mkDefault (fakePackage "etc-${baseNameOf name}" // { inherit (config) text; })
            );
          }
        )
      );
      default = { };
    };
    environment.systemPackages = mkOption {
      type = types.listOf types.package;
      default = [ ];
    };

    # nixos/modules/config/users-groups.nix (the fields hak sets)
    users.users = mkOption {
      type = types.attrsOf (
        types.submodule (
          { name, ... }:
          {
            options = {
              name = mkOption {
                type = types.passwdEntry types.str;
                default = name;
              };
              isSystemUser = mkOption {
                type = types.bool;
                default = false;
              };
              isNormalUser = mkOption {
                type = types.bool;
                default = false;
              };
              group = mkOption {
                type = types.str;
                default = "";
              };
              extraGroups = mkOption {
                type = types.listOf types.str;
                default = [ ];
              };
              home = mkOption {
                type = types.passwdEntry types.path;
                default = "/var/empty";
              };
              description = mkOption {
                type = types.passwdEntry types.str;
                default = "";
              };
            };
          }
        )
      );
      default = { };
    };
    users.groups = mkOption {
      type = types.attrsOf (
        types.submodule (
          { name, ... }:
          {
            options = {
              name = mkOption {
                type = types.passwdEntry types.str;
                default = name;
              };
              gid = mkOption {
                type = types.nullOr types.int;
                default = null;
              };
              members = mkOption {
                type = types.listOf (types.passwdEntry types.str);
                default = [ ];
              };
            };
          }
        )
      );
      default = { };
    };

    networking.hostName = mkOption {
      type = types.strMatching "^$|^[[:alnum:]]([[:alnum:]_-]{0,61}[[:alnum:]])?$";
      default = "nixos";
    };
    # config/networking.nix
    networking.hosts = mkOption {
      type = types.attrsOf (types.listOf types.str);
      default = { };
    };
    networking.nftables.enable = mkOption {
      type = types.bool;
      default = false;
    };
    # services/networking/firewall.nix, firewall-iptables.nix, firewall-nftables.nix
    networking.firewall = {
      enable = mkOption {
        type = types.bool;
        default = true;
      };
      allowedTCPPorts = mkOption {
        type = types.listOf port;
        default = [ ];
      };
      allowedUDPPorts = mkOption {
        type = types.listOf port;
        default = [ ];
      };
      allowedTCPPortRanges = mkOption {
        type = types.listOf (types.attrsOf port);
        default = [ ];
      };
      allowedUDPPortRanges = mkOption {
        type = types.listOf (types.attrsOf port);
        default = [ ];
      };
      extraCommands = mkOption {
        type = types.lines;
        default = "";
      };
      extraInputRules = mkOption {
        type = types.lines;
        default = "";
      };
    };

    boot.kernel.sysctl = mkOption {
      type = types.attrsOf (
        types.nullOr (
          types.oneOf [
            types.bool
            types.str
            types.int
            types.float
          ]
        )
      );
      default = { };
    };
    boot.kernelModules = mkOption {
      type = types.listOf types.str;
      default = [ ];
    };

    # services/security/openbao.nix (the RFC 42 module)
    services.openbao = {
      enable = lib.mkEnableOption "OpenBao";
      package = mkOption {
        type = types.package;
        default = pkgs.openbao;
      };
      extraArgs = mkOption {
        type = types.listOf types.str;
        default = [ ];
      };
      settings = mkOption {
        type = types.submodule {
          freeformType = jsonType;
          options = {
            ui = lib.mkEnableOption "the OpenBao web UI";
            listener = mkOption {
              type = types.attrsOf (
                types.submodule (
                  { config, ... }:
                  {
                    freeformType = jsonType;
                    options = {
                      type = mkOption {
                        type = types.enum [
                          "tcp"
                          "unix"
                        ];
                      };
                      address = mkOption {
                        type = types.str;
                        default = if config.type == "unix" then "/run/openbao/openbao.sock" else "127.0.0.1:8200";
                      };
                    };
                  }
                )
              );
            };
          };
        };
        default = { };
      };
    };
  };

  # What nixpkgs' users-groups.nix asserts of every user (the checks that
  # apply at evaluation).
  userAssertions =
    { config, ... }:
    {
      assertions = lib.concatLists (
        lib.mapAttrsToList (n: u: [
          {
            assertion = u.isSystemUser != u.isNormalUser;
            message = "Exactly one of users.users.${n}.isSystemUser and users.users.${n}.isNormalUser must be set.";
          }
          {
            assertion = u.group != "";
            message = "users.users.${n}.group is unset.";
          }
        ]) config.users.users
      );
    };
in
{
  inherit pkgs fakePackage;
  evalConfig =
    {
      system ? "x86_64-linux",
      modules,
      specialArgs ? { },
      ...
    }:
    lib.evalModules {
      inherit specialArgs;
      modules = [
        { inherit options; }
        userAssertions
        {
          _module.args = {
            inherit pkgs;
            utils = { };
          };
        }
      ]
      ++ modules;
    };
}
