# The haproxy configuration of the load balancers, as text: TCP passthrough
# of the API (clients verify the apiserver certificate end to end) to every
# control-plane host, each health-checked on /readyz. Pure, so CI renders it
# from an inventory and runs `haproxy -c` on it.
let
  topology = import ./topology.nix;
  ip = import ./ip.nix;
in
{
  haproxyConfig =
    inv:
    let
      bracket = a: if ip.isIpv6 a then "[${a}]" else a;
      vip = bracket inv.apiVip;
      server =
        b: "  server ${b.name} ${bracket b.address}:${toString b.port} check check-ssl verify none";
    in
    builtins.concatStringsSep "\n" (
      [
        "global"
        "  log /dev/log local0"
        ""
        "defaults"
        "  mode tcp"
        "  log global"
        "  option tcplog"
        "  timeout connect 5s"
        # Watches stay open for a long time; the apiserver ends them itself.
        "  timeout client 1h"
        "  timeout server 1h"
        ""
        "frontend kube-apiserver"
        # The virtual IP only: a backup load balancer binds it before
        # keepalived moves it there (the module sets ip_nonlocal_bind).
        "  bind ${vip}:${toString inv.apiPort}"
        "  default_backend kube-apiservers"
        ""
        "backend kube-apiservers"
        "  balance roundrobin"
        # The check only asks whether an apiserver is ready; it carries no
        # credential and no client request, so it does not verify the
        # serving certificate (load balancers hold no Kubernetes CA).
        "  option httpchk GET /readyz"
        "  http-check expect status 200"
        "  default-server inter 2s fall 3 rise 2 on-marked-down shutdown-sessions"
      ]
      ++ map server (topology.apiserverBackends inv)
    )
    + "\n";
}
