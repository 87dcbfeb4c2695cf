# The Colmena hive of a cluster: one node per host plan in hive/plans
# (written by `hak-deploy hive`), deployed to the plan's address as root,
# tagged with its role (so `colmena apply --on @etcd` deploys one role),
# running nix/modules/plan.nix on that plan. Optional operator files in the
# hive directory: common.nix (every host) and hosts/<name>.nix (hardware,
# boot, file systems of one host).
{
  # The hive directory: plans/<host>.json, and optionally common.nix, hosts/.
  hiveDir,
  # The NixOS module of a hak host (nix/modules/plan.nix with the package).
  module,
  # nixpkgs, as Colmena's meta.nixpkgs wants it (an imported package set).
  nixpkgs,
}:
let
  hakLib = import ./lib;
  plansDir = hiveDir + "/plans";
  plans =
    if builtins.pathExists plansDir then
      hakLib.readPlans plansDir
    else
      throw "hak: ${toString plansDir} is missing: run `hak-deploy hive -i INVENTORY.yaml` and `git add hive/` (a flake sees tracked files only)";
  # Colmena reserves these node names (its eval.nix); the inventory refuses
  # them too, this is for plans written by hand.
  reserved = builtins.filter (
    n:
    builtins.elem n [
      "meta"
      "defaults"
      "network"
    ]
  ) (builtins.attrNames plans);
  optionalFile =
    rel: if builtins.pathExists (hiveDir + "/${rel}") then [ (hiveDir + "/${rel}") ] else [ ];

  node = name: plan: {
    deployment = {
      targetHost = plan.host.address;
      targetUser = "root";
      tags = [ plan.host.role ];
    };
    imports = [ module ] ++ optionalFile "common.nix" ++ optionalFile "hosts/${name}.nix";
    hak.planFile = plansDir + "/${name}.json";
  };
in
if reserved != [ ] then
  throw "hak: host name ${builtins.head reserved} is reserved by Colmena; rename the host in the inventory"
else
  {
    meta = {
      inherit nixpkgs;
      description = "hak cluster ${(builtins.head (builtins.attrValues plans)).cluster}";
    };
  }
  // builtins.mapAttrs node plans
