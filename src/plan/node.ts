import { stringify as yaml } from "yaml";
import type { Host, Inventory } from "../common/inventory.js";
import { hostsWithRole } from "../common/inventory.js";
import { parseCidr } from "../common/ip.js";
import { hostCidrs } from "./firewall.js";
import type { PlanOptions } from "./options.js";
import { flags, systemUser, type Part } from "./part.js";
import * as paths from "./paths.js";
import type { PlanFile, PlanRoute } from "./schema.js";
import { nodePodCidrs } from "./topology.js";
import { CONTROL_PLANE_ROLE_LABEL } from "./cluster.js";

export const KUBELET_PORT = 10250;
export const KUBELET_HEALTHZ_PORT = 10248;
export const KUBE_PROXY_HEALTHZ_PORT = 10256;
export const COREDNS_READY_PORT = 8181;
export const COREDNS_HEALTH_PORT = 8080;
export const NODE_PORT_RANGE: [number, number] = [30000, 32767];

export const KUBELET_CONFIG_FILE = paths.configFile("kubelet", "config.yaml");
export const KUBE_PROXY_CONFIG_FILE = paths.configFile("kube-proxy", "config.yaml");
export const CONTAINERD_CONFIG_FILE = paths.configFile("containerd", "config.toml");
export const COREDNS_CONFIG_FILE = paths.configFile("coredns", "Corefile");
export const CNI_CONFLIST_FILE = `${paths.CNI_CONF_DIR}/10-hak.conflist`;
/** Plugins the consumer must place in CNI_BIN_DIR (containerd runs loopback itself for every pod). */
export const CNI_PLUGINS = ["bridge", "host-local", "loopback", "portmap"] as const;

/** Where a node's pods resolve cluster names: CoreDNS on the worker itself, or the workers' (at most three) from a control plane. */
export function clusterDns(inv: Inventory, host: Host): string[] {
  if (host.role === "worker") return [host.address];
  return hostsWithRole(inv, "worker")
    .slice(0, 3)
    .map((h) => h.address);
}

/** Routes to every node's pod subnet but the host's own, via that node (one L2 segment, as the seed's hosts). */
export function podRoutes(inv: Inventory, host: Host): PlanRoute[] {
  const cidrs = nodePodCidrs(inv);
  return inv.hosts
    .filter((h) => h.name !== host.name && cidrs.has(h.name))
    .map((h) => ({ destination: cidrs.get(h.name)!, via: h.address, node: h.name }));
}

function containerdToml(opts: PlanOptions): string {
  const systemd = opts.kubelet.cgroupDriver === "systemd";
  const images = "plugins.'io.containerd.cri.v1.images'";
  const runtime = "plugins.'io.containerd.cri.v1.runtime'";
  const q = JSON.stringify;
  // Config version 3: containerd 2.x, what NixOS 26.05 and the local cluster run (1.x reads only version 2).
  // Every folder containerd or runc writes is named here, under the plan's roots, so several
  // containerds can share one file system (the local cluster) and nothing lands in a global default.
  return [
    "# containerd for the kubelet (CRI). Written by hak from the host plan.",
    "version = 3",
    `root = ${q(paths.CONTAINERD_ROOT_DIR)}`,
    `state = ${q(paths.CONTAINERD_STATE_DIR)}`,
    "",
    "[grpc]",
    `  address = ${q(paths.CONTAINERD_SOCKET)}`,
    "",
    "[ttrpc]",
    `  address = ${q(`${paths.CONTAINERD_SOCKET}.ttrpc`)}`,
    "",
    "[plugins.'io.containerd.internal.v1.opt']",
    `  path = ${q(`${paths.CONTAINERD_ROOT_DIR}/opt`)}`,
    "",
    `[${images}]`,
    `  snapshotter = ${q(opts.containerd.snapshotter)}`,
    "",
    `[${images}.pinned_images]`,
    `  sandbox = ${q(opts.containerd.sandboxImage)}`,
    "",
    `[${runtime}]`,
    // Pod network namespaces under containerd's state folder, not the global /var/run/netns.
    "  netns_mounts_under_state_dir = true",
    ...(opts.containerd.restrictOomScoreAdj ? ["  restrict_oom_score_adj = true"] : []),
    "",
    `[${runtime}.containerd]`,
    '  default_runtime_name = "runc"',
    "",
    `[${runtime}.containerd.runtimes.runc]`,
    '  runtime_type = "io.containerd.runc.v2"',
    "",
    `[${runtime}.containerd.runtimes.runc.options]`,
    `  SystemdCgroup = ${systemd}`,
    `  Root = ${q(`${paths.CONTAINERD_STATE_DIR}/runc`)}`,
    "",
    `[${runtime}.cni]`,
    // bin_dirs: containerd 2.1+ (bin_dir is deprecated there and refused beside it).
    `  bin_dirs = [${q(paths.CNI_BIN_DIR)}]`,
    `  conf_dir = ${q(paths.CNI_CONF_DIR)}`,
    "",
  ].join("\n");
}

function cniConflist(podCidr: string): string {
  const v6 = parseCidr(podCidr)?.family === 6;
  const conf = {
    cniVersion: "1.0.0",
    name: "hak",
    plugins: [
      {
        type: "bridge",
        bridge: "cni0",
        isGateway: true,
        // Pod to pod across nodes keeps pod addresses (every host routes every node's pod subnet).
        ipMasq: false,
        hairpinMode: true,
        ipam: {
          type: "host-local",
          ranges: [[{ subnet: podCidr }]],
          routes: [{ dst: v6 ? "::/0" : "0.0.0.0/0" }],
          dataDir: `${paths.CNI_STATE_DIR}/networks`,
        },
      },
      { type: "portmap", capabilities: { portMappings: true } },
    ],
  };
  return `${JSON.stringify(conf, null, 2)}\n`;
}

function kubeletConfig(inv: Inventory, host: Host, opts: PlanOptions): string {
  const config: Record<string, unknown> = {
    apiVersion: "kubelet.config.k8s.io/v1beta1",
    kind: "KubeletConfiguration",
    authentication: {
      anonymous: { enabled: false },
      webhook: { enabled: true, cacheTTL: "2m0s" },
      x509: { clientCAFile: paths.caFile("kubernetes") },
    },
    authorization: { mode: "Webhook", webhook: { cacheAuthorizedTTL: "5m0s", cacheUnauthorizedTTL: "30s" } },
    cgroupDriver: opts.kubelet.cgroupDriver,
    clusterDNS: clusterDns(inv, host),
    clusterDomain: inv.clusterDomain,
    containerRuntimeEndpoint: `unix://${paths.CONTAINERD_SOCKET}`,
    failCgroupV1: opts.kubelet.failCgroupV1,
    healthzBindAddress: "127.0.0.1",
    healthzPort: KUBELET_HEALTHZ_PORT,
    podLogsDir: paths.POD_LOGS_DIR,
    port: KUBELET_PORT,
    // The agent renews both certificates; the kubelet must not ask for its own.
    rotateCertificates: false,
    serverTLSBootstrap: false,
    tlsCertFile: paths.certFile("kubelet-serving"),
    tlsPrivateKeyFile: paths.keyFile("kubelet-serving"),
    // Control planes are nodes too, as kubeadm makes them, but take no ordinary pods.
    ...(host.role === "controlplane" ? { registerWithTaints: [{ key: CONTROL_PLANE_ROLE_LABEL, effect: "NoSchedule" }] } : {}),
    ...opts.kubelet.extraConfig,
  };
  return `# Written by hak from the host plan.\n${yaml(config)}`;
}

function kubeProxyConfig(inv: Inventory, host: Host, opts: PlanOptions): string {
  const config: Record<string, unknown> = {
    apiVersion: "kubeproxy.config.k8s.io/v1alpha1",
    kind: "KubeProxyConfiguration",
    clientConnection: { kubeconfig: paths.kubeconfigFile("kube-proxy") },
    clusterCIDR: inv.podCidr,
    hostnameOverride: host.name,
    mode: opts.kubeProxy.mode,
    healthzBindAddress: `0.0.0.0:${KUBE_PROXY_HEALTHZ_PORT}`,
    metricsBindAddress: "127.0.0.1:10249",
    ...opts.kubeProxy.extraConfig,
  };
  return `# Written by hak from the host plan.\n${yaml(config)}`;
}

function corefile(inv: Inventory, host: Host, opts: PlanOptions): string {
  return [
    "# CoreDNS on the node (as in the seed), reading Services with its own identity (system:coredns).",
    ".:53 {",
    `    bind ${host.address}`,
    "    errors",
    `    health 127.0.0.1:${COREDNS_HEALTH_PORT}`,
    `    ready 127.0.0.1:${COREDNS_READY_PORT}`,
    `    kubernetes ${inv.clusterDomain} in-addr.arpa ip6.arpa {`,
    `        kubeconfig ${paths.kubeconfigFile("coredns")}`,
    "        pods insecure",
    "        fallthrough in-addr.arpa ip6.arpa",
    "    }",
    `    forward . ${opts.coredns.upstream}`,
    "    cache 30",
    "    loop",
    "}",
    "",
  ].join("\n");
}

/**
 * A Kubernetes node: containerd, kubelet (with its KubeletConfiguration),
 * kube-proxy, the CNI config with the node's own pod subnet, and on workers
 * CoreDNS. Control-plane hosts get the same, tainted NoSchedule.
 */
export function nodePart(inv: Inventory, host: Host, opts: PlanOptions): Part {
  const podCidr = nodePodCidrs(inv).get(host.name)!;
  const clusterSources = [inv.podCidr, ...hostCidrs(inv.hosts)];
  const controlplanes = hostCidrs(hostsWithRole(inv, "controlplane"));
  const file = (path: string, content: string, usedBy: string[], mode = "0644"): PlanFile => ({ path, content, mode, usedBy });
  const files: PlanFile[] = [
    file(CONTAINERD_CONFIG_FILE, containerdToml(opts), ["containerd"]),
    file(CNI_CONFLIST_FILE, cniConflist(podCidr), ["containerd"]),
    file(KUBELET_CONFIG_FILE, kubeletConfig(inv, host, opts), ["kubelet"]),
    file(KUBE_PROXY_CONFIG_FILE, kubeProxyConfig(inv, host, opts), ["kube-proxy"]),
  ];
  const part: Part = {
    services: [
      {
        name: "containerd",
        program: "containerd",
        description: "containerd container runtime (CRI)",
        args: ["--config", CONTAINERD_CONFIG_FILE],
        after: [],
        reload: { kind: "restart" },
        readiness: { kind: "unix", path: paths.CONTAINERD_SOCKET },
      },
      {
        name: "kubelet",
        program: "kubelet",
        description: "Kubernetes node agent",
        args: flags({
          config: KUBELET_CONFIG_FILE,
          "hostname-override": host.name,
          kubeconfig: paths.kubeconfigFile("kubelet"),
          "node-ip": host.address,
          "root-dir": paths.KUBELET_ROOT_DIR,
        }),
        after: ["containerd"],
        reload: { kind: "restart" },
        readiness: { kind: "http", url: `http://127.0.0.1:${KUBELET_HEALTHZ_PORT}/healthz` },
      },
      {
        name: "kube-proxy",
        program: "kube-proxy",
        description: "Kubernetes service proxy",
        args: flags({ config: KUBE_PROXY_CONFIG_FILE }),
        after: [],
        reload: { kind: "restart" },
        readiness: { kind: "http", url: `http://127.0.0.1:${KUBE_PROXY_HEALTHZ_PORT}/healthz` },
      },
    ],
    files,
    directories: [
      { path: paths.KUBELET_ROOT_DIR, mode: "0700" },
      { path: paths.POD_LOGS_DIR, mode: "0755" },
      { path: paths.CONTAINERD_ROOT_DIR, mode: "0711" },
      { path: paths.CONTAINERD_STATE_DIR, mode: "0711" },
      { path: paths.CNI_CONF_DIR, mode: "0755" },
      { path: paths.CNI_BIN_DIR, mode: "0755" },
      { path: paths.CNI_STATE_DIR, mode: "0700" },
    ],
    users: [],
    groups: [],
    firewall: {
      tcp: [
        // The apiservers (logs, exec, port-forward) and in-cluster scrapers such as metrics-server.
        { port: KUBELET_PORT, from: [...controlplanes, inv.podCidr], why: "kubelet API" },
        { range: NODE_PORT_RANGE, why: "NodePort services" },
        { port: KUBE_PROXY_HEALTHZ_PORT, why: "kube-proxy health (load balancers of LoadBalancer services)" },
      ],
      udp: [{ range: NODE_PORT_RANGE, why: "NodePort services" }],
      protocols: [],
    },
    routes: [],
    sysctl: {
      "net.ipv4.ip_forward": 1,
      "net.ipv6.conf.all.forwarding": 1,
      "net.bridge.bridge-nf-call-iptables": 1,
      "net.bridge.bridge-nf-call-ip6tables": 1,
    },
  };
  if (host.role === "worker") {
    part.files.push(file(COREDNS_CONFIG_FILE, corefile(inv, host, opts), ["coredns"]));
    part.services.push({
      name: "coredns",
      program: "coredns",
      description: "CoreDNS for the cluster domain, on the node address",
      args: ["-conf", COREDNS_CONFIG_FILE],
      user: "coredns",
      group: "coredns",
      capabilities: ["CAP_NET_BIND_SERVICE"],
      after: [],
      // SIGUSR1: CoreDNS reads the Corefile again and reconnects to the API, sockets stay open.
      reload: { kind: "signal", signal: "SIGUSR1" },
      readiness: { kind: "http", url: `http://127.0.0.1:${COREDNS_READY_PORT}/ready` },
    });
    part.users.push(systemUser("coredns"));
    part.groups.push("coredns");
    // Pods (and hosts) of this cluster only; never an open resolver.
    part.firewall.tcp.push({ port: 53, from: clusterSources, why: "cluster DNS" });
    part.firewall.udp.push({ port: 53, from: clusterSources, why: "cluster DNS" });
  }
  return part;
}
