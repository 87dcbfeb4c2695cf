# An etcd member of the cluster's external etcd (kubeadm's "external etcd"
# topology): its own server and peer certificates from hak-agent, client
# certificate authentication on both the client and the peer port, members
# and URLs from the inventory.
{
  config,
  lib,
  pkgs,
  hak,
  ...
}:
let
  inherit (hak.lib) paths;
  inherit (hak) inv host;
  certFor = profile: {
    certFile = paths.certFile profile;
    keyFile = paths.keyFile profile;
    caFile = paths.caFile "etcd";
  };
  server = certFor "etcd-server";
  peer = certFor "etcd-peer";
in
{
  options.hak.etcd.enable = lib.mkEnableOption "the etcd member role of hak";

  config = lib.mkIf config.hak.etcd.enable {
    services.etcd = {
      enable = true;
      name = host.name;
      initialCluster = lib.splitString "," (hak.lib.etcdInitialCluster inv);
      initialClusterState = "new";
      initialClusterToken = "hak-${inv.name}";
      listenClientUrls = [
        (hak.lib.etcdClientUrl host)
        "https://127.0.0.1:${toString hak.lib.etcdClientPort}"
      ];
      advertiseClientUrls = [ (hak.lib.etcdClientUrl host) ];
      listenPeerUrls = [ (hak.lib.etcdPeerUrl host) ];
      initialAdvertisePeerUrls = [ (hak.lib.etcdPeerUrl host) ];

      certFile = server.certFile;
      keyFile = server.keyFile;
      trustedCaFile = server.caFile;
      clientCertAuth = true;

      peerCertFile = peer.certFile;
      peerKeyFile = peer.keyFile;
      peerTrustedCaFile = peer.caFile;
      peerClientCertAuth = true;
    };

    # etcd reads its certificate files again for every new TLS handshake, so
    # a renewal needs no restart: open connections finish on the old pair,
    # new ones use the new. Hence no actions, only the ordering.
    services.hak-agent.outputs = {
      etcd-server = hak.outputs.certificate "etcd-server" {
        owner = "etcd";
        group = "etcd";
        units = [ "etcd.service" ];
      };
      etcd-peer = hak.outputs.certificate "etcd-peer" {
        owner = "etcd";
        group = "etcd";
        units = [ "etcd.service" ];
      };
      # For `hak-deploy check` (etcdctl endpoint status --cluster) as root.
      etcd-healthcheck-client = hak.outputs.certificate "etcd-healthcheck-client" { };
    };

    networking.firewall.allowedTCPPorts = [
      hak.lib.etcdClientPort
      hak.lib.etcdPeerPort
    ];
    environment.systemPackages = [ pkgs.etcd ];
  };
}
