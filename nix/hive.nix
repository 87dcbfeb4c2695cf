# The Colmena hive of a cluster: one node per inventory host, deployed to its
# address as root, tagged with its role (so `colmena apply --on @etcd`
# deploys one role), running the hak module of that role. Optional operator
# files in the hive directory: common.nix (every host) and hosts/<name>.nix
# (hardware, boot, file systems of one host).
{
  # The inventory as `hak-deploy hive` writes it (hive/inventory.json, read
  # with (import ./lib).readInventory).
  inventory,
  # The NixOS modules of the roles: { etcd, controlplane, worker, loadbalancer }.
  modules,
  # nixpkgs, as Colmena's meta.nixpkgs wants it (an imported package set).
  nixpkgs,
  # Directory with common.nix and hosts/, or null.
  hiveDir ? null,
}:
let
  inv = inventory;
  # Colmena reserves these node names.
  reserved = builtins.filter (h: h.name == "meta" || h.name == "defaults") inv.hosts;
  optionalFile =
    rel:
    if hiveDir != null && builtins.pathExists (hiveDir + "/${rel}") then
      [ (hiveDir + "/${rel}") ]
    else
      [ ];

  node = host: {
    deployment = {
      targetHost = host.address;
      targetUser = "root";
      tags = [ host.role ];
    };
    imports = [
      modules.${host.role}
    ]
    ++ optionalFile "common.nix"
    ++ optionalFile "hosts/${host.name}.nix";
    hak = {
      inventory = inv;
      hostName = host.name;
      ${host.role}.enable = true;
    };
  };
in
if reserved != [ ] then
  throw "hak: host name ${(builtins.head reserved).name} is reserved by Colmena; rename the host in the inventory"
else
  {
    meta = {
      inherit nixpkgs;
      description = "hak cluster ${inv.name}";
    };
  }
  // builtins.listToAttrs (
    map (host: {
      inherit (host) name;
      value = node host;
    }) inv.hosts
  )
