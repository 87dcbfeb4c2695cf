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
      server =
        b:
        "  server ${b.name} ${
            if ip.isIpv6 b.address then "[${b.address}]" else b.address
          }:${toString b.port} check check-ssl verify none";
    in
    builtins.concatStringsSep "\n" (
      [
        "global"
        "  log /dev/log local0"
        "  maxconn 20000"
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
        # On every address: a backup load balancer does not hold the
        # virtual IP until keepalived moves it there.
        "  bind :::${toString inv.apiPort} v4v6"
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
