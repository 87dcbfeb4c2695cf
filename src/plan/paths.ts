import type { CaName } from "../common/names.js";
import type { ProfileName } from "../common/profiles.js";

/**
 * Every path a plan names, as it is on a host. One table, so a consumer that
 * runs plans under another root (the local cluster) maps them by prefix
 * (PATH_ROOTS), and `hak-deploy enroll`/`check` default to the same places.
 */

export const AGENT_STATE_DIR = "/var/lib/hak-agent";
export const CERT_DIR = `${AGENT_STATE_DIR}/certs`;
export const KUBECONFIG_DIR = `${AGENT_STATE_DIR}/kubeconfigs`;
export const SECRET_ID_FILE = `${AGENT_STATE_DIR}/secret-id`;

/** Non-secret configuration the plan writes (files[]). */
export const CONFIG_DIR = "/etc/hak";
export const AGENT_CONFIG_FILE = `${CONFIG_DIR}/agent.json`;

export const ETCD_DATA_DIR = "/var/lib/etcd";
export const KUBELET_ROOT_DIR = "/var/lib/kubelet";
export const POD_LOGS_DIR = "/var/log/pods";
export const CONTAINERD_ROOT_DIR = "/var/lib/containerd";
export const CONTAINERD_STATE_DIR = "/run/containerd";
export const CONTAINERD_SOCKET = `${CONTAINERD_STATE_DIR}/containerd.sock`;
export const CNI_CONF_DIR = "/etc/cni/net.d";
/** The consumer puts the CNI plugins (bridge, host-local, loopback, portmap) here. */
export const CNI_BIN_DIR = "/opt/cni/bin";
/** host-local's IPAM state (allocated pod addresses). */
export const CNI_STATE_DIR = "/var/lib/cni";
export const HAPROXY_STATE_DIR = "/run/haproxy";
export const KEEPALIVED_STATE_DIR = "/run/keepalived";
export const OPENBAO_DATA_DIR = "/var/lib/openbao";
/** The operator places OpenBao's TLS key and certificate here (the agent cannot: it needs Vault first). */
export const OPENBAO_TLS_DIR = "/var/lib/hak-openbao-tls";

/** Prefixes of every absolute path in a plan. */
export const PATH_ROOTS = [
  CONFIG_DIR,
  AGENT_STATE_DIR,
  ETCD_DATA_DIR,
  KUBELET_ROOT_DIR,
  POD_LOGS_DIR,
  CONTAINERD_ROOT_DIR,
  CONTAINERD_STATE_DIR,
  CNI_CONF_DIR,
  CNI_BIN_DIR,
  CNI_STATE_DIR,
  HAPROXY_STATE_DIR,
  KEEPALIVED_STATE_DIR,
  OPENBAO_DATA_DIR,
  OPENBAO_TLS_DIR,
  // The host's resolver config, CoreDNS's default upstream: read, never written.
  "/etc/resolv.conf",
] as const;

export function certFile(profile: ProfileName): string {
  return `${CERT_DIR}/${profile}.crt`;
}

export function keyFile(profile: ProfileName): string {
  return `${CERT_DIR}/${profile}.key`;
}

/** The shared bundle of a trust domain, the file services point at (kubeadm's ca.crt, etcd/ca.crt, front-proxy-ca.crt). */
export function caFile(ca: CaName): string {
  return `${CERT_DIR}/${ca}-ca.crt`;
}

/**
 * The issuing CA as written by one certificate output. Each agent output
 * replaces its files as one unit, so two outputs never share a file: the
 * first output of a CA writes caFile(ca), every other one its own copy here
 * (what its kubeconfig embeds).
 */
export function ownCaFile(profile: ProfileName): string {
  return `${CERT_DIR}/${profile}.ca.crt`;
}

export function kubeconfigFile(profile: ProfileName): string {
  return `${KUBECONFIG_DIR}/${profile}.conf`;
}

export const SERVICE_ACCOUNT_KEY_FILE = `${CERT_DIR}/sa.key`;
export const SERVICE_ACCOUNT_PUB_FILE = `${CERT_DIR}/sa.pub`;

export function configFile(service: string, file: string): string {
  return `${CONFIG_DIR}/${service}/${file}`;
}
