# Reading the inventory JSON that `hak-deploy hive` writes. The TypeScript
# side validated it (zod); this only checks that the file is that output and
# says how to fix it when it is not.
let
  required = [
    "name"
    "hostDomain"
    "clusterDomain"
    "apiVip"
    "apiPort"
    "serviceCidr"
    "podCidr"
    "extraApiserverSans"
    "leafTtl"
    "hosts"
  ];
in
rec {
  checkInventory =
    where: inv:
    let
      missing = builtins.filter (k: !(inv ? ${k})) required;
    in
    if !builtins.isAttrs inv then
      throw "hak: ${where}: expected a JSON object; regenerate it with `hak-deploy hive`"
    else if missing != [ ] then
      throw "hak: ${where}: missing ${builtins.concatStringsSep ", " missing}; it must be the output of `hak-deploy hive` (defaults applied), not the YAML inventory"
    else if !builtins.isInt inv.leafTtl then
      throw "hak: ${where}: leafTtl must be a number of seconds; regenerate it with `hak-deploy hive`"
    else
      inv;

  readInventory =
    file:
    let
      inv = builtins.fromJSON (builtins.readFile file);
    in
    checkInventory (toString file) inv;
}
