# A load balancer in front of the apiservers: haproxy passes TLS through
# (TCP mode) to every control-plane host that answers /readyz, and keepalived
# holds the API virtual IP on one of the load balancers, failing over in
# inventory order (the first is MASTER with the highest priority).
{
  config,
  lib,
  hak,
  ...
}:
let
  cfg = config.hak.loadbalancer;
  inherit (hak) inv host;
  peers = hak.lib.keepalivedPeers inv;
  self = lib.findFirst (
    p: p.name == host.name
  ) (throw "hak: ${host.name} is not a load balancer") peers;
  others = builtins.filter (p: p.name != host.name) peers;
  vipPrefix = if hak.lib.isIpv6 inv.apiVip then 128 else 32;
in
{
  options.hak.loadbalancer = {
    enable = lib.mkEnableOption "the load-balancer role of hak (haproxy + keepalived)";

    interface = lib.mkOption {
      type = lib.types.str;
      example = "eth0";
      description = "Interface that carries VRRP and the virtual IP.";
    };

    virtualRouterId = lib.mkOption {
      type = lib.types.ints.between 1 255;
      default = 51;
      description = "VRRP router ID; unique among the VRRP groups of the network segment.";
    };

    unicast = lib.mkOption {
      type = lib.types.bool;
      default = true;
      description = ''
        Send VRRP adverts only to the other load balancers of the inventory
        (unicast_peer) instead of multicast: no other host on the segment can
        join or disturb the group, and it works where multicast does not.
      '';
    };

    authSecretFile = lib.mkOption {
      type = lib.types.nullOr lib.types.str;
      default = null;
      example = "/var/lib/hak-keepalived/vrrp.env";
      description = ''
        Optional VRRP authentication (PASS, at most 8 characters): a file
        outside the Nix store with the line `HAK_VRRP_PASS=...`, interpolated
        into keepalived's config when it starts (nixpkgs' secretFile). VRRP
        passwords travel in clear text, so unicast peers are the stronger
        defence; this only stops a misconfigured neighbour.
      '';
    };
  };

  config = lib.mkIf cfg.enable {
    assertions = [
      {
        assertion = cfg.authSecretFile == null || !lib.hasPrefix builtins.storeDir cfg.authSecretFile;
        message = "hak.loadbalancer.authSecretFile must be outside the Nix store";
      }
    ];

    # haproxy listens on the virtual IP on every load balancer, also where
    # keepalived has not (yet) put it.
    boot.kernel.sysctl = {
      "net.ipv4.ip_nonlocal_bind" = 1;
      "net.ipv6.ip_nonlocal_bind" = 1;
    };

    # Only its identity certificate.
    services.hak-agent.outputs = hak.lib.agentOutputs inv host { };

    services.haproxy = {
      enable = true;
      config = hak.lib.haproxyConfig inv;
    };

    services.keepalived = {
      enable = true;
      secretFile = cfg.authSecretFile;
      vrrpScripts.haproxy = {
        # The VIP belongs where haproxy runs.
        script = "${config.systemd.package}/bin/systemctl is-active --quiet haproxy.service";
        interval = 2;
        fall = 2;
        rise = 2;
      };
      vrrpInstances.kube-apiserver = {
        inherit (cfg) interface virtualRouterId;
        inherit (self) state priority;
        virtualIps = [ { addr = "${inv.apiVip}/${toString vipPrefix}"; } ];
        trackScripts = [ "haproxy" ];
        unicastSrcIp = lib.mkIf cfg.unicast host.address;
        unicastPeers = lib.mkIf cfg.unicast (map (p: p.address) others);
        extraConfig = lib.optionalString (cfg.authSecretFile != null) ''
          authentication {
            auth_type PASS
            auth_pass ''${HAK_VRRP_PASS}
          }
        '';
      };
    };

    # VRRP is IP protocol 112, not a port: accepted from the other load
    # balancers only, with either firewall backend.
    networking.firewall = {
      allowedTCPPorts = [ inv.apiPort ];
    }
    // (
      if config.networking.nftables.enable or false then
        {
          extraInputRules = lib.concatMapStrings (
            p:
            if hak.lib.isIpv6 p.address then
              "ip6 saddr ${p.address} meta l4proto vrrp accept\n"
            else
              "ip saddr ${p.address} ip protocol vrrp accept\n"
          ) others;
        }
      else
        {
          extraCommands = lib.concatMapStrings (
            p:
            "${
              if hak.lib.isIpv6 p.address then "ip6tables" else "iptables"
            } -A nixos-fw -p vrrp -s ${p.address} -j nixos-fw-accept\n"
          ) others;
        }
    );
  };
}
