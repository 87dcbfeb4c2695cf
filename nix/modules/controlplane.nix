# A control-plane host: kube-apiserver, kube-controller-manager and
# kube-scheduler as plain systemd units with the flags kubeadm gives its
# static pods for an external-etcd HA cluster. Every certificate, kubeconfig
# and the service-account key pair come from hak-agent; nothing secret is in
# the Nix store.
{
  config,
  lib,
  pkgs,
  hak,
  ...
}:
let
  cfg = config.hak.controlplane;
  inherit (hak.lib) paths;
  inherit (hak) inv host;

  cert = paths.certFile;
  key = paths.keyFile;
  kubernetesCa = paths.caFile "kubernetes";
  frontProxyCa = paths.caFile "front-proxy";
  etcdCa = paths.caFile "etcd";

  flags = attrs: lib.concatStringsSep " " (lib.mapAttrsToList (k: v: "--${k}=${toString v}") attrs);

  apiserverFlags = {
    advertise-address = host.address;
    secure-port = inv.apiPort;
    allow-privileged = "true";
    authorization-mode = "Node,RBAC";
    enable-admission-plugins = "NodeRestriction";
    anonymous-auth = "true"; # /readyz and /livez for the load balancers' checks
    client-ca-file = kubernetesCa;
    tls-cert-file = cert "apiserver";
    tls-private-key-file = key "apiserver";
    etcd-servers = lib.concatStringsSep "," (hak.lib.etcdClientUrls inv);
    etcd-cafile = etcdCa;
    etcd-certfile = cert "apiserver-etcd-client";
    etcd-keyfile = key "apiserver-etcd-client";
    kubelet-client-certificate = cert "apiserver-kubelet-client";
    kubelet-client-key = key "apiserver-kubelet-client";
    # Kubelet serving certificates are signed by the kubernetes CA (profile
    # kubelet-serving), so the apiserver verifies the kubelets it calls.
    kubelet-certificate-authority = kubernetesCa;
    kubelet-preferred-address-types = "InternalIP,ExternalIP,Hostname";
    proxy-client-cert-file = cert "front-proxy-client";
    proxy-client-key-file = key "front-proxy-client";
    requestheader-client-ca-file = frontProxyCa;
    requestheader-allowed-names = "front-proxy-client";
    requestheader-username-headers = "X-Remote-User";
    requestheader-group-headers = "X-Remote-Group";
    requestheader-extra-headers-prefix = "X-Remote-Extra-";
    # Control-plane hosts run no kube-proxy: reach aggregated APIs by endpoint.
    enable-aggregator-routing = "true";
    service-account-issuer = "https://kubernetes.default.svc.${inv.clusterDomain}";
    service-account-key-file = paths.serviceAccountPubFile;
    service-account-signing-key-file = paths.serviceAccountKeyFile;
    service-cluster-ip-range = inv.serviceCidr;
  };

  kubeconfigFlags = profile: {
    kubeconfig = paths.kubeconfigFile profile;
    authentication-kubeconfig = paths.kubeconfigFile profile;
    authorization-kubeconfig = paths.kubeconfigFile profile;
    bind-address = "127.0.0.1";
    leader-elect = "true";
  };

  controllerManagerFlags = kubeconfigFlags "controller-manager" // {
    client-ca-file = kubernetesCa;
    requestheader-client-ca-file = frontProxyCa;
    root-ca-file = kubernetesCa;
    cluster-name = inv.name;
    service-account-private-key-file = paths.serviceAccountKeyFile;
    use-service-account-credentials = "true";
    service-cluster-ip-range = inv.serviceCidr;
    allocate-node-cidrs = "true";
    cluster-cidr = inv.podCidr;
    # The CA keys stay in Vault: nothing here can sign, so the CSR signer
    # (kubeadm gives it the CA key) is off. Kubelets get their certificates
    # from hak-agent instead.
    controllers = "*,-csrsigning";
  };

  schedulerFlags = kubeconfigFlags "scheduler";

  # The sandbox of every control-plane daemon: a system user, read-only
  # system, no privilege, only the network families it uses.
  hardened = hak.lib.systemdSandbox // {
    User = "kubernetes";
    Group = "kubernetes";
    Restart = "on-failure";
    RestartSec = "5s";
    RestrictAddressFamilies = [
      "AF_UNIX"
      "AF_INET"
      "AF_INET6"
      "AF_NETLINK"
    ];
    CapabilityBoundingSet = [ "" ];
  };

  unit = description: exec: {
    inherit description;
    wantedBy = [ "multi-user.target" ];
    after = [ "network-online.target" ];
    wants = [ "network-online.target" ];
    serviceConfig = hardened // {
      ExecStart = exec;
    };
  };

in
{
  options.hak.controlplane = {
    enable = lib.mkEnableOption "the control-plane role of hak (kube-apiserver, controller-manager, scheduler)";
    package = lib.mkOption {
      type = lib.types.package;
      default = pkgs.kubernetes;
      defaultText = lib.literalExpression "pkgs.kubernetes";
    };
    extraApiserverFlags = lib.mkOption {
      type = lib.types.attrsOf lib.types.str;
      default = { };
      example = {
        audit-log-path = "/var/log/kubernetes/audit.log";
      };
      description = "More kube-apiserver flags (no secrets: they land in the store).";
    };
  };

  config = lib.mkIf cfg.enable {
    users.users.kubernetes = {
      isSystemUser = true;
      group = "kubernetes";
    };
    users.groups.kubernetes = { };

    systemd.services.kube-apiserver = unit "Kubernetes API server" "${cfg.package}/bin/kube-apiserver ${
      flags (apiserverFlags // cfg.extraApiserverFlags)
    }";
    systemd.services.kube-controller-manager = unit "Kubernetes controller manager" "${cfg.package}/bin/kube-controller-manager ${flags controllerManagerFlags}";
    systemd.services.kube-scheduler = unit "Kubernetes scheduler" "${cfg.package}/bin/kube-scheduler ${flags schedulerFlags}";

    # Certificates, kubeconfigs and the service-account pair, and which of
    # them restart which daemon: nix/lib/outputs.nix.
    services.hak-agent.outputs = hak.lib.agentOutputs inv host { };

    networking.firewall.allowedTCPPorts = [ inv.apiPort ];
    environment.systemPackages = [ pkgs.kubectl ];
  };
}
