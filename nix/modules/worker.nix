# A worker: kubelet with its own `system:node:<name>` client certificate and
# a serving certificate signed by the kubernetes CA, kube-proxy, CoreDNS on
# the host, and flannel as the pod network (as in the seed). nixpkgs'
# kubelet/kube-proxy modules are used with every credential pointed at
# hak-agent's files; their generated kubeconfigs hold paths only.
#
# Cilium instead of flannel: set `hak.worker.cni = "cilium"`. Then nothing
# here configures pod networking: the kubelet's CNI directory is left
# writable for the Cilium agent, which is installed into the running cluster
# afterwards (e.g. `cilium install` or its Helm chart), and kube-proxy can be
# turned off for Cilium's kube-proxy replacement.
{
  config,
  lib,
  pkgs,
  hak,
  ...
}:
let
  cfg = config.hak.worker;
  inherit (hak.lib) paths;
  inherit (hak) inv host;
  kubernetesCa = paths.caFile "kubernetes";
  k8sLib = config.services.kubernetes.lib;

  clientOf = profile: {
    server = hak.lib.apiServerUrl inv;
    caFile = kubernetesCa;
    certFile = paths.certFile profile;
    keyFile = paths.keyFile profile;
  };
in
{
  options.hak.worker = {
    enable = lib.mkEnableOption "the worker role of hak (kubelet, kube-proxy, CoreDNS, CNI)";

    cni = lib.mkOption {
      type = lib.types.enum [
        "flannel"
        "cilium"
      ];
      default = "flannel";
      description = ''
        Pod network. `flannel` (the seed's) is configured here, with the
        node's own credentials. `cilium` leaves pod networking to Cilium,
        installed into the cluster once it is up.
      '';
    };

    kubeProxy = lib.mkOption {
      type = lib.types.bool;
      default = true;
      description = "Run kube-proxy (turn off with Cilium's kube-proxy replacement).";
    };
  };

  config = lib.mkIf cfg.enable (
    lib.mkMerge [
      {
        services.kubernetes = {
          # No easyCerts, no nixpkgs PKI: every certificate comes from Vault.
          easyCerts = false;
          masterAddress = inv.apiDnsName or inv.apiVip;
          apiserverAddress = hak.lib.apiServerUrl inv;
          caFile = kubernetesCa;
          clusterCidr = inv.podCidr;

          kubelet = {
            enable = true;
            hostname = host.name;
            nodeIp = host.address;
            inherit (inv) clusterDomain;
            # CoreDNS runs on every worker, on the node's address.
            clusterDns = [ host.address ];
            kubeconfig = clientOf "kubelet";
            clientCaFile = kubernetesCa;
            tlsCertFile = paths.certFile "kubelet-serving";
            tlsKeyFile = paths.keyFile "kubelet-serving";
          };

          proxy = {
            enable = cfg.kubeProxy;
            hostname = host.name;
            kubeconfig = clientOf "kube-proxy";
          };
        };

        # CoreDNS outside the cluster (as in the seed), on the node address,
        # reading Services through the API with its own identity.
        services.coredns = {
          enable = true;
          config = ''
            .:53 {
              bind ${host.address}
              errors
              health 127.0.0.1:8181
              kubernetes ${inv.clusterDomain} in-addr.arpa ip6.arpa {
                endpoint ${hak.lib.apiServerUrl inv}
                tls ${paths.certFile "coredns"} ${paths.keyFile "coredns"} ${kubernetesCa}
                pods insecure
                fallthrough in-addr.arpa ip6.arpa
              }
              forward . /etc/resolv.conf
              cache 30
              loop
            }
          '';
        };
        users.groups.hak-coredns = { };
        systemd.services.coredns.serviceConfig.SupplementaryGroups = [ "hak-coredns" ];

        # kubelet, kubelet-serving, kube-proxy, coredns, host-identity, and
        # the restarts after a renewal: nix/lib/outputs.nix.
        services.hak-agent.outputs = hak.lib.agentOutputs inv host { inherit (cfg) cni kubeProxy; };

        networking.firewall = {
          allowedTCPPorts = [
            10250 # kubelet API, for the apiserver
            53
          ];
          allowedUDPPorts = [ 53 ];
        };
      }

      (lib.mkIf (cfg.cni == "flannel") {
        # flannel's Kubernetes backend needs to list nodes and patch its own
        # node: exactly what the Node authorizer grants `system:node:<name>`,
        # so it uses the kubelet's certificate rather than an identity that
        # could touch other nodes.
        services.flannel = {
          enable = true;
          network = inv.podCidr;
          storageBackend = "kubernetes";
          nodeName = host.name;
          kubeconfig = k8sLib.mkKubeConfig "flannel" (clientOf "kubelet");
        };
        services.kubernetes.kubelet.cni.config = [
          {
            name = "mynet";
            type = "flannel";
            cniVersion = "0.3.1";
            delegate = {
              isDefaultGateway = true;
              hairpinMode = true;
              bridge = "mynet";
            };
          }
        ];
        networking.firewall.allowedUDPPorts = [ 8472 ]; # VXLAN
      })

      (lib.mkIf (cfg.cni == "cilium") {
        # Cilium's agent writes its CNI config here once installed.
        services.kubernetes.kubelet.cni.configDir = "/etc/cni/net.d";
        networking.firewall = {
          allowedTCPPorts = [ 4240 ]; # cilium-health
          allowedUDPPorts = [ 8472 ]; # VXLAN
        };
      })
    ]
  );
}
