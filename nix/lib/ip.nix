# IP helpers for the inventory, mirroring src/common/ip.ts where the SAN lists
# need them. Pure, builtins only.
let
  util = import ./util.nix;
  inherit (util) splitOn;

  hexDigits = util.chars "0123456789abcdef";
  hexValue = builtins.listToAttrs (
    builtins.genList (i: {
      name = builtins.elemAt hexDigits i;
      value = i;
    }) 16
    ++ builtins.genList (i: {
      name = builtins.elemAt (util.chars "ABCDEF") i;
      value = 10 + i;
    }) 6
  );

  parseHex = s: builtins.foldl' (acc: c: acc * 16 + hexValue.${c}) 0 (util.chars s);

  toHex =
    n:
    if n < 16 then
      builtins.elemAt hexDigits n
    else
      toHex (n / 16) + builtins.elemAt hexDigits (n - (n / 16) * 16);

  # "fd00::1" -> eight integers.
  expand6 =
    s:
    let
      halves = splitOn "::" s;
      groups = part: if part == "" then [ ] else map parseHex (splitOn ":" part);
      head = groups (builtins.elemAt halves 0);
      tail = if builtins.length halves > 1 then groups (builtins.elemAt halves 1) else [ ];
      fill = builtins.genList (_: 0) (8 - builtins.length head - builtins.length tail);
    in
    if builtins.length halves > 1 then head ++ fill ++ tail else head;

  # Eight integers -> RFC 5952 text: lowercase, no leading zeros, the first
  # longest run (of two or more) of zero groups as "::".
  compress6 =
    gs:
    let
      runAt = i: if i < 8 && builtins.elemAt gs i == 0 then 1 + runAt (i + 1) else 0;
      best =
        builtins.foldl'
          (
            b: i:
            let
              len = runAt i;
            in
            if len > b.len && len > 1 then
              {
                start = i;
                inherit len;
              }
            else
              b
          )
          {
            start = -1;
            len = 0;
          }
          (builtins.genList (i: i) 8);
      text = xs: builtins.concatStringsSep ":" (map toHex xs);
    in
    if best.start < 0 then
      text gs
    else
      text (builtins.genList (i: builtins.elemAt gs i) best.start)
      + "::"
      + text (
        builtins.genList (i: builtins.elemAt gs (best.start + best.len + i)) (8 - best.start - best.len)
      );
in
rec {
  isIpv6 = s: builtins.match ".*:.*" s != null;

  # The inventory's extraApiserverSans rule (src/common/profiles.ts): digits
  # and dots, or anything with a colon, is an IP address; the rest DNS names.
  looksLikeIp = s: builtins.match "[0-9.]+" s != null || isIpv6 s;

  # The first address of a CIDR (the `kubernetes` service's ClusterIP). The
  # schema guarantees zero host bits and a prefix below /31 (/127), so the
  # last bit is 0 and adding one never carries.
  firstAddress =
    cidr:
    let
      net = builtins.elemAt (splitOn "/" cidr) 0;
    in
    if isIpv6 net then
      let
        gs = expand6 net;
      in
      compress6 (
        builtins.genList (i: if i == 7 then builtins.elemAt gs 7 + 1 else builtins.elemAt gs i) 8
      )
    else
      let
        octets = splitOn "\\." net;
      in
      builtins.concatStringsSep "." (
        builtins.genList (i: builtins.elemAt octets i) 3
        ++ [ (toString (builtins.fromJSON (builtins.elemAt octets 3) + 1)) ]
      );

  # "https://10.0.0.1:2379", "https://[fd00::1]:2379"
  url =
    scheme: address: port:
    "${scheme}://${if isIpv6 address then "[${address}]" else address}:${toString port}";
}
