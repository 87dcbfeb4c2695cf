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
  options.hak.etcd = {
    enable = lib.mkEnableOption "the etcd member role of hak";
    initialClusterState = lib.mkOption {
      type = lib.types.enum [
        "new"
        "existing"
      ];
      default = "new";
      description = ''
        "new" while the inventory's etcd hosts form the cluster for the first
        time; "existing" for a member added later (after `etcdctl member add`).
        Ignored once the member has data.
      '';
    };
  };

  config = lib.mkIf config.hak.etcd.enable {
    services.etcd = {
      enable = true;
      name = host.name;
      initialCluster = lib.splitString "," (hak.lib.etcdInitialCluster inv);
      inherit (config.hak.etcd) initialClusterState;
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

    # etcd-server, etcd-peer (reread by etcd for every new handshake: no
    # restart), etcd-healthcheck-client, host-identity: nix/lib/outputs.nix.
    services.hak-agent.outputs = hak.lib.agentOutputs inv host { };

    networking.firewall.allowedTCPPorts = [
      hak.lib.etcdClientPort
      hak.lib.etcdPeerPort
    ];
    environment.systemPackages = [ pkgs.etcd ];
  };
}
