# hak's pure Nix library: everything the NixOS modules and the hive derive
# from the inventory (hive/inventory.json, the zod output of
# src/common/inventory.ts). Builtins only, so CI can evaluate it with Debian's
# nix-instantiate and compare it with the TypeScript side (test/nix).
let
  util = import ./util.nix;
  ip = import ./ip.nix;
  profiles = import ./profiles.nix;
  topology = import ./topology.nix;
  inventory = import ./inventory.nix;
  paths = import ./paths.nix;
  haproxy = import ./haproxy.nix;
  outputs = import ./outputs.nix;
  agentConfig = import ./agent-config.nix;
in
util
// ip
// profiles
// topology
// inventory
// haproxy
// outputs
// agentConfig
// {
  inherit paths;
  systemdSandbox = import ./sandbox.nix;
}
