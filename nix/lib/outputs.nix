# What hak-agent maintains on a host of each role: one output per profile
# the role holds (src/common/profiles.ts profilesForRole), plus the
# service-account pair on control-plane hosts. Each names its consumer
# (owner, group, mode), the units that read it and what to do to them after a
# change. Pure: the role modules hand the result to services.hak-agent.outputs,
# and test/nix checks it against the TypeScript profile table.
let
  paths = import ./paths.nix;
  profiles = import ./profiles.nix;
  ip = import ./ip.nix;
  util = import ./util.nix;

  restart = unit: {
    type = "restart";
    inherit unit;
  };

  # The common part of every output.
  base =
    {
      owner ? "root",
      group ? "root",
      mode ? "0600",
      units ? [ ],
      actions ? [ ],
    }:
    {
      inherit
        owner
        group
        mode
        units
        actions
        ;
    };

  # The CSR fields of a profile for a host: exactly what its Vault role allows.
  csr =
    inv: host: profile:
    let
      spec = profiles.requestSpec inv host profile;
    in
    {
      inherit (spec) commonName dns ip;
    };

  # A certificate with its key and its CA bundle.
  certificate =
    inv: host: profile: opts:
    base opts
    // {
      type = "certificate";
      inherit profile;
      extra = csr inv host profile // {
        certFile = paths.certFile profile;
        keyFile = paths.keyFile profile;
      };
    };

  # Each CA bundle (<ca>-ca.crt) is written by one output only, the first by
  # name among the host's certificates from that CA: every output replaces
  # its files as one unit, so two outputs must never share a file.
  withCaFiles =
    outputs:
    let
      caOf = name: profiles.profileByName.${outputs.${name}.profile}.ca;
      certNames = builtins.filter (n: outputs.${n}.type == "certificate") (builtins.attrNames outputs);
      writers = builtins.foldl' (
        acc: n: if acc ? ${caOf n} then acc else acc // { ${caOf n} = n; }
      ) { } certNames;
    in
    builtins.mapAttrs (
      n: o:
      if o.type == "certificate" && writers.${caOf n} == n then
        o
        // {
          extra = o.extra // {
            caFile = paths.caFile (caOf n);
          };
        }
      else
        o
    ) outputs;

  # A kubeconfig embedding CA, certificate and key of a certificate output
  # of the same profile (named <profile>-kubeconfig), rewritten whenever that
  # certificate changes. The certificate's own files belong to the same
  # consumer; the actions run when the kubeconfig changes.
  kubeconfig = inv: host: profile: server: opts: {
    ${profile} = certificate inv host profile (builtins.removeAttrs opts [ "actions" ]);
    "${profile}-kubeconfig" = base opts // {
      type = "kubeconfig";
      profile = null;
      extra = {
        certificate = profile;
        inherit server;
        clusterName = inv.name;
        path = paths.kubeconfigFile profile;
      };
    };
  };

  # One field of the KV v2 secret hak-kv/<secret>.
  secret =
    secretName: field: file: opts:
    base opts
    // {
      type = "secret";
      profile = null;
      extra = {
        mount = "hak-kv";
        secret = secretName;
        inherit field;
        path = file;
      };
    };

  kubernetesOwned = {
    owner = "kubernetes";
    group = "kubernetes";
  };

  byRole = {
    # etcd reads its certificate files again for every new TLS handshake, so
    # a renewal needs no restart: open connections finish on the old pair,
    # new ones use the new. Hence no actions, only the ordering.
    etcd =
      inv: host: _opts:
      let
        etcdOwned = {
          owner = "etcd";
          group = "etcd";
          units = [ "etcd.service" ];
        };
      in
      {
        etcd-server = certificate inv host "etcd-server" etcdOwned;
        etcd-peer = certificate inv host "etcd-peer" etcdOwned;
        # For `hak-deploy check` (etcdctl endpoint status --cluster), as root.
        etcd-healthcheck-client = certificate inv host "etcd-healthcheck-client" { };
      };

    # The apiserver reloads its serving certificate and the client CA files
    # by itself; the client certificates it presents (etcd, kubelets,
    # aggregated APIs) and the service-account keys are read at start, so
    # their renewal restarts it (the agent debounces: one restart for several
    # outputs; the apiservers behind haproxy take turns by renewal jitter).
    # Controller-manager and scheduler talk to the local apiserver, as in
    # kubeadm, not through the load balancers.
    controlplane =
      inv: host: _opts:
      let
        local = ip.url "https" host.address inv.apiPort;
        restartApiserver = kubernetesOwned // {
          actions = [ (restart "kube-apiserver.service") ];
        };
      in
      kubeconfig inv host "controller-manager" local (
        kubernetesOwned // { actions = [ (restart "kube-controller-manager.service") ]; }
      )
      // kubeconfig inv host "scheduler" local (
        kubernetesOwned // { actions = [ (restart "kube-scheduler.service") ]; }
      )
      // {
        apiserver = certificate inv host "apiserver" (
          kubernetesOwned // { units = [ "kube-apiserver.service" ]; }
        );
        apiserver-etcd-client = certificate inv host "apiserver-etcd-client" restartApiserver;
        apiserver-kubelet-client = certificate inv host "apiserver-kubelet-client" restartApiserver;
        front-proxy-client = certificate inv host "front-proxy-client" restartApiserver;
        # Shared by every control-plane host (KV hak-kv/service-account),
        # never the apiserver's serving key.
        service-account-key = secret "service-account" "key" paths.serviceAccountKeyFile (
          kubernetesOwned
          // {
            actions = [
              (restart "kube-apiserver.service")
              (restart "kube-controller-manager.service")
            ];
          }
        );
        service-account-pub = secret "service-account" "pub" paths.serviceAccountPubFile (
          restartApiserver // { mode = "0644"; }
        );
      };

    # Restarting the kubelet leaves running pods alone; kube-proxy and
    # CoreDNS restart in a moment. None of them rereads these files. flannel
    # uses the kubelet's node identity (see nix/modules/worker.nix).
    worker =
      inv: host:
      {
        cni ? "flannel",
        kubeProxy ? true,
      }:
      {
        kubelet = certificate inv host "kubelet" {
          actions = [
            (restart "kubelet.service")
          ]
          ++ util.optional (cni == "flannel") (restart "flannel.service");
        };
        kubelet-serving = certificate inv host "kubelet-serving" {
          actions = [ (restart "kubelet.service") ];
        };
        kube-proxy = certificate inv host "kube-proxy" {
          actions = util.optional kubeProxy (restart "kube-proxy.service");
        };
        coredns = certificate inv host "coredns" {
          group = "hak-coredns";
          mode = "0640";
          actions = [ (restart "coredns.service") ];
        };
      };

    loadbalancer =
      _inv: _host: _opts:
      { };
  };
in
{
  # Every output of a host, keyed by output name. `opts` are the worker's
  # choices ({ cni, kubeProxy }); other roles ignore them. Every host also
  # holds its identity certificate: after the first AppRole login the agent
  # authenticates with it (TLS cert auth).
  agentOutputs =
    inv: host: opts:
    withCaFiles (
      byRole.${host.role} inv host opts
      // {
        host-identity = certificate inv host "host-identity" { };
      }
    );
}
