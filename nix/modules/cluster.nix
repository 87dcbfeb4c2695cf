# What every hak host shares: the inventory (hive/inventory.json, as
# `hak-deploy hive` writes it), this host's entry in it, the agent's base
# configuration (Vault addresses, AppRole role ID, its own identity
# certificate), and helpers the role modules use to declare agent outputs.
{
  config,
  lib,
  ...
}:
let
  cfg = config.hak;
  hakLib = import ../lib;
  inherit (hakLib) paths;
  inherit (lib) mkOption types;

  inv = cfg.inventory;
  host = hakLib.findHost inv cfg.hostName;

  # The CSR fields of a profile for this host: exactly what the Vault role of
  # the profile allows (nix/lib/profiles.nix, checked against profiles.ts).
  csr =
    profile:
    let
      spec = hakLib.requestSpec inv host profile;
    in
    {
      inherit (spec) commonName dns ip;
    };

  # Agent outputs, for the role modules (passed as the module argument `hak`).
  outputs = {
    # A certificate with its key and its CA bundle. `units` read the files
    # (ordered after the agent); `actions` run after a change.
    certificate =
      profile:
      {
        owner ? "root",
        group ? "root",
        mode ? "0600",
        units ? [ ],
        actions ? [ ],
      }:
      {
        type = "certificate";
        inherit
          profile
          owner
          group
          mode
          units
          actions
          ;
        extra = csr profile // {
          certFile = paths.certFile profile;
          keyFile = paths.keyFile profile;
          caFile = paths.caFile hakLib.profileByName.${profile}.ca;
        };
      };

    # A kubeconfig with the client certificate and key embedded, for the
    # Kubernetes components; replaced as one file, so never a mismatched pair.
    kubeconfig =
      profile:
      {
        owner ? "root",
        group ? "root",
        server ? hakLib.apiServerUrl inv,
        units ? [ ],
        actions ? [ ],
      }:
      {
        type = "kubeconfig";
        inherit
          profile
          owner
          group
          units
          actions
          ;
        mode = "0600";
        extra = csr profile // {
          path = paths.kubeconfigFile profile;
          inherit server;
          cluster = inv.name;
        };
      };

    # One field of the KV v2 secret hak-kv/<secret>.
    secret =
      secret: field: file:
      {
        owner ? "root",
        group ? "root",
        mode ? "0600",
        units ? [ ],
        actions ? [ ],
      }:
      {
        type = "secret";
        inherit
          owner
          group
          mode
          units
          actions
          ;
        extra = {
          mount = "hak-kv";
          inherit secret field;
          path = file;
        };
      };
  };
in
{
  options.hak = {
    inventory = mkOption {
      type = types.attrsOf types.anything;
      description = ''
        The cluster inventory as `hak-deploy hive` writes it
        (hive/inventory.json: the validated inventory with defaults applied).
        Read it with `hak.lib.readInventory ./hive/inventory.json`.
      '';
    };

    hostName = mkOption {
      type = types.str;
      description = "This host's name in the inventory.";
    };

    host = mkOption {
      type = types.attrsOf types.anything;
      readOnly = true;
      description = "This host's inventory entry (name, role, address).";
    };

    vault = {
      addresses = mkOption {
        type = types.listOf types.str;
        default = inv.vault.addresses or [ ];
        defaultText = lib.literalExpression "inventory.vault.addresses";
        description = "Vault/OpenBao URLs the agent tries in order.";
      };
      caFile = mkOption {
        type = types.nullOr types.str;
        default = null;
        example = "/etc/hak/vault-ca.crt";
        description = "CA bundle of Vault's TLS certificate (public; null: the system trust store).";
      };
    };
  };

  config = {
    hak.host = host;
    _module.args.hak = {
      lib = hakLib;
      inherit inv host outputs;
    };

    assertions = [
      {
        assertion = cfg.vault.addresses != [ ];
        message = "hak: no Vault address for ${cfg.hostName}: set vault.addresses in the inventory (then `hak-deploy hive`) or hak.vault.addresses";
      }
    ];

    networking.hostName = lib.mkDefault host.name;

    services.hak-agent = {
      enable = true;
      settings = {
        vault = {
          inherit (cfg.vault) addresses;
        }
        // lib.optionalAttrs (cfg.vault.caFile != null) { inherit (cfg.vault) caFile; };
        auth = {
          # Not secret (src/common/names.ts approleRoleId); the secret ID is.
          roleId = "hak-${inv.name}-${host.name}";
          approleMount = "approle";
          certMount = "cert";
          certRole = host.name;
          identityOutput = "host-identity";
        };
      };
      # Every host holds its identity certificate: after the first AppRole
      # login the agent authenticates with it (TLS cert auth).
      outputs.host-identity = outputs.certificate "host-identity" { };
    };
  };
}
