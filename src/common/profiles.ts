import type { CaName } from "./names.js";
import type { Host, HostRole, Inventory } from "./inventory.js";
import { nthAddress, parseCidr } from "./ip.js";

/**
 * The certificate profiles of ../shared/kubeadm-pki.md as data: which CA signs
 * them, the subject, the usages and the SANs for a host. Pure: the reconciler
 * turns them into Vault roles, the agent and `hak-pki issue` into CSRs.
 */

export const PROFILE_NAMES = [
  "etcd-server",
  "etcd-peer",
  "etcd-healthcheck-client",
  "apiserver-etcd-client",
  "apiserver",
  "apiserver-kubelet-client",
  "front-proxy-client",
  "admin",
  "super-admin",
  "controller-manager",
  "scheduler",
  "kubelet",
  "kubelet-serving",
  "kube-proxy",
  "coredns",
  "host-identity",
] as const;
export type ProfileName = (typeof PROFILE_NAMES)[number];

export type Usage = "server" | "client" | "both";

export interface Sans {
  dns: string[];
  ip: string[];
}

export interface Profile {
  name: ProfileName;
  ca: CaName;
  usage: Usage;
  /** One Vault role per host, whose allowed names are that host's alone. */
  perHost: boolean;
  /** Host roles whose policy may sign it; operators may sign every profile. */
  hostRoles: readonly HostRole[];
  /** kubeadm's file name, for the status table. */
  kubeadmName: string;
  commonName(host: Host | undefined): string;
  /** Subject organisation, fixed by the Vault role (a CSR cannot choose it). */
  organization(host: Host | undefined): string | undefined;
  sans(inv: Inventory, host: Host | undefined): Sans;
}

const NO_SANS: Sans = { dns: [], ip: [] };

function need(host: Host | undefined, profile: string): Host {
  if (!host) throw new Error(`profile ${profile} is per host: a host is needed`);
  return host;
}

/** A host's own names: short name and FQDN. */
export function hostDnsNames(inv: Inventory, host: Host): string[] {
  return [host.name, `${host.name}.${inv.hostDomain}`];
}

function etcdSans(inv: Inventory, host: Host | undefined, profile: string): Sans {
  const h = need(host, profile);
  return { dns: [...hostDnsNames(inv, h), "localhost"], ip: [h.address, "127.0.0.1", "::1"] };
}

/** The first address of the service CIDR: the `kubernetes` service's ClusterIP. */
export function kubernetesServiceIp(inv: Inventory): string {
  const c = parseCidr(inv.serviceCidr);
  if (!c) throw new Error(`serviceCidr ${inv.serviceCidr} is not a CIDR`);
  return nthAddress(c, 1);
}

/** kubeadm's apiserver SAN list, per host; never localhost or 127.0.0.1. */
export function apiserverSans(inv: Inventory, host: Host): Sans {
  const dns = [
    ...hostDnsNames(inv, host),
    "kubernetes",
    "kubernetes.default",
    "kubernetes.default.svc",
    `kubernetes.default.svc.${inv.clusterDomain}`,
  ];
  const ip = [kubernetesServiceIp(inv), host.address, inv.apiVip];
  if (inv.apiDnsName) dns.push(inv.apiDnsName);
  for (const extra of inv.extraApiserverSans) {
    if (/^[0-9.]+$/.test(extra) || extra.includes(":")) ip.push(extra);
    else dns.push(extra);
  }
  return { dns: unique(dns), ip: unique(ip) };
}

function unique(xs: string[]): string[] {
  return [...new Set(xs)];
}

function shared(
  name: ProfileName,
  ca: CaName,
  cn: string,
  hostRoles: readonly HostRole[],
  kubeadmName: string,
  org?: string,
): Profile {
  return {
    name,
    ca,
    usage: "client",
    perHost: false,
    hostRoles,
    kubeadmName,
    commonName: () => cn,
    organization: () => org,
    sans: () => NO_SANS,
  };
}

export const PROFILES: Record<ProfileName, Profile> = {
  "etcd-server": {
    name: "etcd-server",
    ca: "etcd",
    usage: "both",
    perHost: true,
    hostRoles: ["etcd"],
    kubeadmName: "etcd/server",
    commonName: (h) => need(h, "etcd-server").name,
    organization: () => undefined,
    sans: (inv, h) => etcdSans(inv, h, "etcd-server"),
  },
  "etcd-peer": {
    name: "etcd-peer",
    ca: "etcd",
    usage: "both",
    perHost: true,
    hostRoles: ["etcd"],
    kubeadmName: "etcd/peer",
    commonName: (h) => need(h, "etcd-peer").name,
    organization: () => undefined,
    sans: (inv, h) => etcdSans(inv, h, "etcd-peer"),
  },
  "etcd-healthcheck-client": shared("etcd-healthcheck-client", "etcd", "kube-etcd-healthcheck-client", ["etcd"], "etcd/healthcheck-client"),
  "apiserver-etcd-client": shared("apiserver-etcd-client", "etcd", "kube-apiserver-etcd-client", ["controlplane"], "apiserver-etcd-client"),
  apiserver: {
    name: "apiserver",
    ca: "kubernetes",
    usage: "server",
    perHost: true,
    hostRoles: ["controlplane"],
    kubeadmName: "apiserver",
    commonName: () => "kube-apiserver",
    organization: () => undefined,
    sans: (inv, h) => apiserverSans(inv, need(h, "apiserver")),
  },
  "apiserver-kubelet-client": shared(
    "apiserver-kubelet-client",
    "kubernetes",
    "kube-apiserver-kubelet-client",
    ["controlplane"],
    "apiserver-kubelet-client",
    "kubeadm:cluster-admins",
  ),
  "front-proxy-client": shared("front-proxy-client", "front-proxy", "front-proxy-client", ["controlplane"], "front-proxy-client"),
  admin: shared("admin", "kubernetes", "kubernetes-admin", [], "admin.conf", "kubeadm:cluster-admins"),
  "super-admin": shared("super-admin", "kubernetes", "kubernetes-super-admin", [], "super-admin.conf", "system:masters"),
  "controller-manager": shared("controller-manager", "kubernetes", "system:kube-controller-manager", ["controlplane"], "controller-manager.conf"),
  scheduler: shared("scheduler", "kubernetes", "system:kube-scheduler", ["controlplane"], "scheduler.conf"),
  kubelet: {
    name: "kubelet",
    ca: "kubernetes",
    usage: "client",
    perHost: true,
    // Control-plane hosts are nodes too (tainted NoSchedule), as kubeadm makes them.
    hostRoles: ["controlplane", "worker"],
    kubeadmName: "kubelet.conf",
    commonName: (h) => `system:node:${need(h, "kubelet").name}`,
    organization: () => "system:nodes",
    sans: () => NO_SANS,
  },
  "kubelet-serving": {
    name: "kubelet-serving",
    ca: "kubernetes",
    usage: "server",
    perHost: true,
    hostRoles: ["controlplane", "worker"],
    kubeadmName: "kubelet serving",
    commonName: (h) => `system:node:${need(h, "kubelet-serving").name}`,
    organization: () => "system:nodes",
    sans: (inv, h) => ({ dns: hostDnsNames(inv, need(h, "kubelet-serving")), ip: [need(h, "kubelet-serving").address] }),
  },
  "kube-proxy": shared("kube-proxy", "kubernetes", "system:kube-proxy", ["controlplane", "worker"], "kube-proxy.conf", "system:node-proxier"),
  coredns: shared("coredns", "kubernetes", "system:coredns", ["worker"], "coredns.conf"),
  "host-identity": {
    name: "host-identity",
    ca: "identity",
    usage: "client",
    perHost: true,
    hostRoles: ["etcd", "controlplane", "worker", "loadbalancer"],
    kubeadmName: "(hak host identity)",
    commonName: (h) => need(h, "host-identity").name,
    organization: (h) => need(h, "host-identity").role,
    sans: (inv, h) => ({ dns: hostDnsNames(inv, need(h, "host-identity")), ip: [need(h, "host-identity").address] }),
  },
};

export function isProfileName(s: string): s is ProfileName {
  return (PROFILE_NAMES as readonly string[]).includes(s);
}

/** The profiles a host of this role holds, in a stable order. */
export function profilesForRole(role: HostRole): Profile[] {
  return PROFILE_NAMES.map((n) => PROFILES[n]).filter((p) => p.hostRoles.includes(role));
}

/** What a CSR for this profile and host asks for. */
export interface CertRequestSpec {
  profile: ProfileName;
  commonName: string;
  dns: string[];
  ip: string[];
}

export function requestSpec(inv: Inventory, profile: ProfileName, host: Host | undefined): CertRequestSpec {
  const p = PROFILES[profile];
  const sans = p.sans(inv, host);
  return { profile, commonName: p.commonName(host), dns: sans.dns, ip: sans.ip };
}
