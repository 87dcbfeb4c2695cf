import type { Host, Inventory } from "../common/inventory.js";
import { flags, systemUser, type Part } from "./part.js";
import * as paths from "./paths.js";
import { etcdClientUrls, hostUrl } from "./topology.js";

export const CONTROLLER_MANAGER_PORT = 10257;
export const SCHEDULER_PORT = 10259;

/**
 * kube-apiserver, kube-controller-manager and kube-scheduler with the flags
 * kubeadm gives its static pods (cmd/kubeadm/app/phases/controlplane/
 * manifests.go) for an external-etcd HA cluster, differing where hak's PKI
 * differs: no bootstrap tokens (the agent gives kubelets their certificates)
 * and no CSR signer (the CA keys stay in Vault).
 */
export function controlplanePart(inv: Inventory, host: Host): Part {
  const kubernetesCa = paths.caFile("kubernetes");
  const frontProxyCa = paths.caFile("front-proxy");
  const apiserverArgs = flags({
    "advertise-address": host.address,
    "allow-privileged": true,
    "authorization-mode": ["Node", "RBAC"],
    "client-ca-file": kubernetesCa,
    "enable-admission-plugins": "NodeRestriction",
    // Aggregated APIs and webhooks are reached at their endpoints (pod IPs):
    // the control planes are nodes on the pod network, so no kube-proxy hop.
    "enable-aggregator-routing": true,
    "etcd-cafile": paths.caFile("etcd"),
    "etcd-certfile": paths.certFile("apiserver-etcd-client"),
    "etcd-keyfile": paths.keyFile("apiserver-etcd-client"),
    "etcd-servers": etcdClientUrls(inv),
    "kubelet-client-certificate": paths.certFile("apiserver-kubelet-client"),
    "kubelet-client-key": paths.keyFile("apiserver-kubelet-client"),
    // Kubelet serving certificates come from the kubernetes CA (profile
    // kubelet-serving): logs and exec verify the kubelet they reach.
    "kubelet-certificate-authority": kubernetesCa,
    // By name first (kubeadm: InternalIP first), so the apiserver's TLS
    // client sends the node's name as SNI: the kubelet serves its reloaded
    // serving pair (ReloadKubeletServerCertificateFile) only through
    // GetCertificate, which Go's crypto/tls consults for a client without SNI
    // only when no static pair is set, and the kubelet sets the one it read
    // at start. By address, logs and exec would meet that first pair until it
    // expired. Every host resolves every host's name (the plan's hostNames).
    "kubelet-preferred-address-types": ["Hostname", "InternalIP", "ExternalIP"],
    "proxy-client-cert-file": paths.certFile("front-proxy-client"),
    "proxy-client-key-file": paths.keyFile("front-proxy-client"),
    "requestheader-allowed-names": "front-proxy-client",
    "requestheader-client-ca-file": frontProxyCa,
    "requestheader-extra-headers-prefix": "X-Remote-Extra-",
    "requestheader-group-headers": "X-Remote-Group",
    "requestheader-username-headers": "X-Remote-User",
    "secure-port": inv.apiPort,
    "service-account-issuer": `https://kubernetes.default.svc.${inv.clusterDomain}`,
    "service-account-key-file": paths.SERVICE_ACCOUNT_PUB_FILE,
    "service-account-signing-key-file": paths.SERVICE_ACCOUNT_KEY_FILE,
    "service-cluster-ip-range": inv.serviceCidr,
    "tls-cert-file": paths.certFile("apiserver"),
    "tls-private-key-file": paths.keyFile("apiserver"),
  });
  const componentKubeconfig = (profile: "controller-manager" | "scheduler") => ({
    "authentication-kubeconfig": paths.kubeconfigFile(profile),
    "authorization-kubeconfig": paths.kubeconfigFile(profile),
    "bind-address": "127.0.0.1",
    kubeconfig: paths.kubeconfigFile(profile),
    "leader-elect": true,
  });
  const controllerManagerArgs = flags({
    ...componentKubeconfig("controller-manager"),
    // Node pod subnets are fixed by the plan (CNI host-local ranges and
    // routes agree on them), so the node IPAM controller hands out none.
    "allocate-node-cidrs": false,
    "client-ca-file": kubernetesCa,
    "cluster-cidr": inv.podCidr,
    "cluster-name": inv.name,
    // Nothing here can sign (the CA keys stay in Vault): the CSR signer and
    // the bootstrap-token controllers are off.
    controllers: ["*", "-csrsigning", "-bootstrapsigner", "-tokencleaner"],
    "requestheader-client-ca-file": frontProxyCa,
    "root-ca-file": kubernetesCa,
    "service-account-private-key-file": paths.SERVICE_ACCOUNT_KEY_FILE,
    "service-cluster-ip-range": inv.serviceCidr,
    "use-service-account-credentials": true,
  });
  const schedulerArgs = flags(componentKubeconfig("scheduler"));
  const self = hostUrl("https", host.address, inv.apiPort);
  return {
    services: [
      {
        name: "kube-apiserver",
        program: "kube-apiserver",
        description: "Kubernetes API server",
        args: apiserverArgs,
        user: "kubernetes",
        group: "kubernetes",
        after: [],
        reload: { kind: "restart" },
        readiness: { kind: "https", url: `${self}/readyz`, caFile: kubernetesCa },
      },
      {
        name: "kube-controller-manager",
        program: "kube-controller-manager",
        description: "Kubernetes controller manager",
        args: controllerManagerArgs,
        user: "kubernetes",
        group: "kubernetes",
        after: ["kube-apiserver"],
        reload: { kind: "restart" },
        // Its serving certificate is self-signed (no CA key on the host to sign one).
        readiness: { kind: "https", url: `https://127.0.0.1:${CONTROLLER_MANAGER_PORT}/healthz`, insecure: true },
      },
      {
        name: "kube-scheduler",
        program: "kube-scheduler",
        description: "Kubernetes scheduler",
        args: schedulerArgs,
        user: "kubernetes",
        group: "kubernetes",
        after: ["kube-apiserver"],
        reload: { kind: "restart" },
        readiness: { kind: "https", url: `https://127.0.0.1:${SCHEDULER_PORT}/readyz`, insecure: true },
      },
    ],
    users: [systemUser("kubernetes")],
    groups: ["kubernetes"],
    firewall: {
      // Clients come through the load balancers or from the nodes and control planes themselves.
      tcp: [{ port: inv.apiPort, why: "kube-apiserver (clients through the load balancers, nodes, other control planes)" }],
      udp: [],
      protocols: [],
    },
    sysctl: {},
    routes: [],
    files: [],
    directories: [],
  };
}
