# Cluster wiring derived from the inventory: etcd membership, the apiserver
# backends behind haproxy, keepalived priorities, the deploy order. Mirrors
# src/deploy/topology.ts; test/nix compares the two.
let
  util = import ./util.nix;
  ip = import ./ip.nix;
in
rec {
  etcdClientPort = 2379;
  etcdPeerPort = 2380;

  # Colmena applies roles in this order: etcd before the apiservers that need
  # it, the load balancers before the workers that reach the API through them.
  deployOrder = [
    "etcd"
    "controlplane"
    "loadbalancer"
    "worker"
  ];

  hostsWithRole = inv: role: builtins.filter (h: h.role == role) inv.hosts;

  findHost =
    inv: name:
    let
      found = builtins.filter (h: h.name == name) inv.hosts;
    in
    if found == [ ] then throw "hak: host ${name} is not in the inventory" else builtins.head found;

  etcdPeerUrl = host: ip.url "https" host.address etcdPeerPort;
  etcdClientUrl = host: ip.url "https" host.address etcdClientPort;

  # --initial-cluster: every etcd member by name, in inventory order.
  etcdInitialCluster =
    inv:
    builtins.concatStringsSep "," (map (h: "${h.name}=${etcdPeerUrl h}") (hostsWithRole inv "etcd"));

  etcdClientUrls = inv: map etcdClientUrl (hostsWithRole inv "etcd");

  # The API endpoint every component outside the control plane uses.
  apiServerUrl = inv: ip.url "https" inv.apiVip inv.apiPort;

  apiserverBackends =
    inv:
    map (h: {
      inherit (h) name address;
      port = inv.apiPort;
    }) (hostsWithRole inv "controlplane");

  # The first load balancer is MASTER; priorities fall by 10 in host order
  # (never below 1), so the order in the inventory is the failover order.
  keepalivedPeers =
    inv:
    map (e: {
      inherit (e.value) name address;
      priority = util.max 1 (200 - 10 * e.index);
      state = if e.index == 0 then "MASTER" else "BACKUP";
    }) (util.enumerate (hostsWithRole inv "loadbalancer"));
}
