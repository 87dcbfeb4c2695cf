# Raft timing of the OpenBao node, imported by vault.nix. performance_multiplier
# scales raft's heartbeat, election and leader-lease timeouts; unset means
# the server's conservative default, equivalent to 5, and 1 is its fastest
# setting, the one Vault's integrated-storage documentation recommends for
# production servers. Measured on a local 5-node cluster when the leader is
# SIGKILLed (test/integration/ha.test.ts): see docs/audit-log.md, "Raft".
{ config, lib, ... }:
{
  config = lib.mkIf config.hak.vaultServer.enable {
    services.openbao.settings.storage.raft.performance_multiplier = lib.mkDefault 1;
  };
}
