# The agent's JSON configuration (src/agent/config.ts, docs/agent-config.md)
# from the inventory: the host's part (Vault, login) and the outputs in the
# agent's field names. services.hak-agent and cluster.nix use these two
# functions; test/nix validates their result with the agent's own schema.
let
  util = import ./util.nix;
  paths = import ./paths.nix;
in
{
  # host, vault, auth and listen: everything but the outputs.
  agentSettings =
    inv: host:
    {
      vaultAddresses,
      vaultCaFile ? null,
      secretIdFile ? paths.secretIdFile,
      listen ? paths.agentListenAddress,
    }:
    {
      host = host.name;
      inherit listen;
      vault = {
        addresses = vaultAddresses;
        # Secret IDs and tokens are bound to the host's address.
        sourceAddress = host.address;
      }
      // (if vaultCaFile == null then { } else { caFile = vaultCaFile; });
      auth = {
        # Not secret (src/common/names.ts approleRoleId); the secret ID is.
        roleId = "hak-${inv.name}-${host.name}";
        inherit secretIdFile;
        approleMount = "approle";
        certMount = "cert";
        certRole = host.name;
        identityOutput = "host-identity";
      };
    };

  # services.hak-agent.outputs (name -> output) to the agent's `outputs`
  # list: `units` only order systemd units and `extra` holds the type's own
  # fields; null fields are left out.
  renderOutputs =
    outputs:
    map (
      name:
      let
        o = outputs.${name};
        dropNulls = a: builtins.removeAttrs a (builtins.filter (k: a.${k} == null) (builtins.attrNames a));
      in
      {
        inherit name;
        inherit (o)
          type
          owner
          group
          mode
          ;
        actions = map dropNulls o.actions;
      }
      // (if o.profile == null then { } else { inherit (o) profile; })
      // o.extra
    ) (builtins.attrNames outputs);

  # Units that read the agent's files: ordered after it, pulled in with it.
  consumerUnits =
    outputs:
    util.unique (
      builtins.concatMap (o: o.units ++ map (a: a.unit) o.actions) (builtins.attrValues outputs)
    );
}
