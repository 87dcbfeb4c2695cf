# What every hak host shares: the inventory (hive/inventory.json, as
# `hak-deploy hive` writes it), this host's entry in it, the agent's base
# configuration (Vault addresses, AppRole role ID, cert-auth role), passed
# to the role modules as the module argument `hak`.
{
  config,
  lib,
  ...
}:
let
  cfg = config.hak;
  hakLib = import ../lib;
  inherit (lib) mkOption types;

  inv = cfg.inventory;
  host = hakLib.findHost inv cfg.hostName;

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
      inherit inv host;
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
      settings = hakLib.agentSettings inv host {
        vaultAddresses = cfg.vault.addresses;
        vaultCaFile = cfg.vault.caFile;
        inherit (config.services.hak-agent) secretIdFile;
        listen = config.services.hak-agent.listenAddress;
      };
    };
  };
}
