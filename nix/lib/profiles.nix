# The certificate profiles of src/common/profiles.ts, as far as a host needs
# them: which a host of each role holds (in PROFILE_NAMES order), with the
# common name, organisation and SANs its CSR asks for. test/nix compares every
# value with the TypeScript table for the same inventory.
let
  util = import ./util.nix;
  ip = import ./ip.nix;
  inherit (util) unique optional;

  hostDnsNames = inv: host: [
    host.name
    "${host.name}.${inv.hostDomain}"
  ];

  noSans = _inv: _host: {
    dns = [ ];
    ip = [ ];
  };

  etcdSans = inv: host: {
    dns = hostDnsNames inv host ++ [ "localhost" ];
    ip = [
      host.address
      "127.0.0.1"
      "::1"
    ];
  };

  ownSans = inv: host: {
    dns = hostDnsNames inv host;
    ip = [ host.address ];
  };

  # kubeadm's apiserver list; never localhost or 127.0.0.1.
  apiserverSans =
    inv: host:
    let
      extra = inv.extraApiserverSans;
    in
    {
      dns = unique (
        hostDnsNames inv host
        ++ [
          "kubernetes"
          "kubernetes.default"
          "kubernetes.default.svc"
          "kubernetes.default.svc.${inv.clusterDomain}"
        ]
        ++ optional (inv ? apiDnsName) inv.apiDnsName
        ++ builtins.filter (s: !ip.looksLikeIp s) extra
      );
      ip = unique (
        [
          (ip.firstAddress inv.serviceCidr)
          host.address
          inv.apiVip
        ]
        ++ builtins.filter ip.looksLikeIp extra
      );
    };

  perHost = name: ca: roles: commonName: organization: sans: {
    inherit
      name
      ca
      roles
      commonName
      organization
      sans
      ;
    perHost = true;
  };

  shared = name: ca: roles: cn: organization: {
    inherit
      name
      ca
      roles
      organization
      ;
    commonName = _host: cn;
    sans = noSans;
    perHost = false;
  };

  fixed = o: _host: o;
in
rec {
  inherit hostDnsNames apiserverSans;

  # Same order as PROFILE_NAMES.
  profiles = [
    (perHost "etcd-server" "etcd" [ "etcd" ] (h: h.name) (fixed null) etcdSans)
    (perHost "etcd-peer" "etcd" [ "etcd" ] (h: h.name) (fixed null) etcdSans)
    (shared "etcd-healthcheck-client" "etcd" [ "etcd" ] "kube-etcd-healthcheck-client" (fixed null))
    (shared "apiserver-etcd-client" "etcd" [ "controlplane" ] "kube-apiserver-etcd-client" (fixed null))
    (perHost "apiserver" "kubernetes" [ "controlplane" ] (
      _: "kube-apiserver"
    ) (fixed null) apiserverSans)
    (shared "apiserver-kubelet-client" "kubernetes" [ "controlplane" ] "kube-apiserver-kubelet-client" (
      fixed "kubeadm:cluster-admins"
    ))
    (shared "front-proxy-client" "front-proxy" [ "controlplane" ] "front-proxy-client" (fixed null))
    (shared "admin" "kubernetes" [ ] "kubernetes-admin" (fixed "kubeadm:cluster-admins"))
    (shared "super-admin" "kubernetes" [ ] "kubernetes-super-admin" (fixed "system:masters"))
    (shared "controller-manager" "kubernetes" [ "controlplane" ] "system:kube-controller-manager" (
      fixed null
    ))
    (shared "scheduler" "kubernetes" [ "controlplane" ] "system:kube-scheduler" (fixed null))
    (perHost "kubelet" "kubernetes" [ "worker" ] (
      h: "system:node:${h.name}"
    ) (fixed "system:nodes") noSans)
    (perHost "kubelet-serving" "kubernetes" [ "worker" ] (
      h: "system:node:${h.name}"
    ) (fixed "system:nodes") ownSans)
    (shared "kube-proxy" "kubernetes" [ "worker" ] "system:kube-proxy" (fixed "system:node-proxier"))
    (shared "coredns" "kubernetes" [ "worker" ] "system:coredns" (fixed null))
    (perHost "host-identity" "identity" [ "etcd" "controlplane" "worker" "loadbalancer" ] (h: h.name) (
      h: h.role
    ) ownSans)
  ];

  profileByName = util.listToAttrsBy "name" profiles;

  profilesForRole = role: builtins.filter (p: builtins.elem role p.roles) profiles;

  # What the CSR of `profile` for `host` asks for (TypeScript: requestSpec).
  requestSpec =
    inv: host: profile:
    let
      p = profileByName.${profile};
      s = p.sans inv host;
    in
    {
      inherit profile;
      inherit (p) ca;
      commonName = p.commonName host;
      organization = p.organization host;
      inherit (s) dns ip;
    };

  # Every certificate a host holds, keyed by profile.
  certificatesOf =
    inv: host:
    builtins.listToAttrs (
      map (p: {
        inherit (p) name;
        value = requestSpec inv host p.name;
      }) (profilesForRole host.role)
    );
}
