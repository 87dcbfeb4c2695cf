# hak's Nix library: how a host plan (src/plan, written by `hak-deploy hive`
# to hive/plans/<host>.json) is spelled in systemd, tmpfiles and firewall
# terms. No derivation of its own: every value comes from the plan; this only
# changes the notation. Builtins only, so CI evaluates it for every demo plan
# with Debian's nix-instantiate (test/nix/plan-map.test.ts) without nixpkgs.
let
  planSchema = "hak.plan/v1";
  planVersion = 1;

  concatMap = builtins.concatMap;
  join = builtins.concatStringsSep;
  isIpv6 = cidr: builtins.match ".*:.*" cidr != null;
  optional = cond: x: if cond then [ x ] else [ ];
in
rec {
  inherit planSchema planVersion;

  # The plan of one host, checked to be one `hak-deploy hive` wrote for this
  # schema version (the TypeScript side validated every field with zod).
  readPlan =
    file:
    let
      plan = builtins.fromJSON (builtins.readFile file);
      where = toString file;
    in
    if !builtins.isAttrs plan || (plan.schema or null) != planSchema then
      throw "hak: ${where}: not a host plan (schema ${planSchema}); write it with `hak-deploy hive`"
    else if plan.version != planVersion then
      throw "hak: ${where}: plan version ${toString plan.version}, this hak reads version ${toString planVersion}; run `hak-deploy hive` with the hak of this flake"
    else
      plan;

  # The plans of a hive folder (hive/plans/<host>.json), by host name.
  readPlans =
    dir:
    let
      # The cluster plan may sit beside the host plans; it is no node.
      isHostPlan =
        n:
        builtins.match ".*\\.json" n != null
        && (builtins.fromJSON (builtins.readFile (dir + "/${n}"))).schema or null != "hak.cluster-plan/v1";
      names = builtins.filter isHostPlan (builtins.attrNames (builtins.readDir dir));
      plan =
        file:
        let
          p = readPlan (dir + "/${file}");
          host = builtins.head (builtins.match "(.*)\\.json" file);
        in
        if p.host.name != host then
          throw "hak: ${toString dir}/${file}: the plan of ${p.host.name} in the file of ${host}; write plans with `hak-deploy hive`"
        else
          {
            name = host;
            value = p;
          };
    in
    builtins.listToAttrs (map plan names);

  # One argument of ExecStart: quoted, so systemd passes it as one word,
  # unchanged: `%` (specifiers) and `$` (variables) doubled, `\` and `"`
  # escaped (systemd.service(5), "Command lines").
  execArg =
    arg:
    "\""
    + builtins.replaceStrings [ "\\" "\"" "%" "$" "\n" ] [ "\\\\" "\\\"" "%%" "$$" "\\n" ] arg
    + "\"";

  # ExecStart of a plan service: the program's binary, then exactly the
  # plan's arguments.
  execStart = binary: args: join " " (map execArg ([ binary ] ++ args));

  # The files of the plan a service reads: a change reloads or restarts it.
  usedBy = plan: service: builtins.filter (f: builtins.elem service f.usedBy) plan.files;

  # A plan path as a key of environment.etc ("/etc/hak/x" -> "hak/x"), or
  # null outside /etc.
  etcName =
    path:
    let
      m = builtins.match "/etc/(.+)" path;
    in
    if m == null then null else builtins.head m;

  # tmpfiles.d lines for the plan's directories ("d PATH MODE USER GROUP -").
  tmpfilesRules = plan: map (d: "d ${d.path} ${d.mode} ${d.owner or "root"} ${d.group or "root"} -") plan.directories;

  # Firewall rules of the plan: open to everyone (no `from`) as NixOS port
  # lists; restricted to source CIDRs as iptables/ip6tables or nftables rules.
  openPorts =
    rules: builtins.concatMap (r: optional (!(r ? from) && r ? port) r.port) rules;

  openRanges =
    rules:
    builtins.concatMap (
      r:
      optional (!(r ? from) && r ? range) {
        from = builtins.elemAt r.range 0;
        to = builtins.elemAt r.range 1;
      }
    ) rules;

  dport =
    sep: r: if r ? port then toString r.port else "${toString (builtins.elemAt r.range 0)}${sep}${toString (builtins.elemAt r.range 1)}";

  # iptables commands for networking.firewall.extraCommands (the nixos-fw
  # chain; every command appends, and the chain is rebuilt on each start).
  iptablesCommands =
    firewall:
    let
      cmd = cidr: if isIpv6 cidr then "ip6tables" else "iptables";
      portRules =
        proto:
        concatMap (
          r:
          map (
            cidr: "${cmd cidr} -A nixos-fw -p ${proto} -s ${cidr} --dport ${dport ":" r} -j nixos-fw-accept"
          ) (r.from or [ ])
        ) firewall.${proto};
      protocolRules = concatMap (
        p: map (cidr: "${cmd cidr} -A nixos-fw -p ${p.protocol} -s ${cidr} -j nixos-fw-accept") p.from
      ) firewall.protocols;
    in
    portRules "tcp" ++ portRules "udp" ++ protocolRules;

  # The same for networking.firewall.extraInputRules (nftables backend).
  nftablesRules =
    firewall:
    let
      family = cidr: if isIpv6 cidr then "ip6" else "ip";
      bySet =
        cidrs: f:
        let
          v4 = builtins.filter (c: !isIpv6 c) cidrs;
          v6 = builtins.filter isIpv6 cidrs;
        in
        optional (v4 != [ ]) (f "ip" v4) ++ optional (v6 != [ ]) (f "ip6" v6);
      portRules =
        proto:
        concatMap (
          r:
          bySet (r.from or [ ]) (
            fam: cidrs: "${fam} saddr { ${join ", " cidrs} } ${proto} dport ${dport "-" r} accept"
          )
        ) firewall.${proto};
      protocolRules = concatMap (
        p:
        bySet p.from (
          fam: cidrs:
          "${fam} saddr { ${join ", " cidrs} } ${if fam == "ip" then "ip protocol" else "meta l4proto"} ${p.protocol} accept"
        )
      ) firewall.protocols;
    in
    portRules "tcp" ++ portRules "udp" ++ protocolRules;

  # `ip route replace` lines for the plan's routes (other nodes' pod subnets).
  routeCommands =
    plan:
    map (
      r: "ip ${if isIpv6 r.destination then "-6 " else ""}route replace ${r.destination} via ${r.via}"
    ) plan.routes;

  # The systemd sandbox every hak-managed daemon that runs as its own user shares.
  systemdSandbox = import ./sandbox.nix;
}
