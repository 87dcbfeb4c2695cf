import type { HostRole } from "./inventory.js";

/**
 * Every name hak gives to an object in Vault, in one place: the reconciler
 * creates them, the agent, deploy and serve address them, and the policies in
 * policies/*.hcl spell the same paths.
 */

export const CA_NAMES = ["kubernetes", "etcd", "front-proxy", "identity"] as const;
export type CaName = (typeof CA_NAMES)[number];

/** PKI secrets-engine mount of each trust domain. */
export const PKI_MOUNT: Record<CaName, string> = {
  kubernetes: "pki-kubernetes",
  etcd: "pki-etcd",
  "front-proxy": "pki-front-proxy",
  identity: "pki-identity",
};

/** CA common names as kubeadm's code has them; hak's identity CA is its own. */
export const CA_COMMON_NAME: Record<CaName, string> = {
  kubernetes: "kubernetes",
  etcd: "etcd-ca",
  "front-proxy": "front-proxy-ca",
  identity: "hak-identity-ca",
};

/** KV v2 mount for the cluster's secrets (the service-account key pair). */
export const KV_MOUNT = "hak-kv";
export const SERVICE_ACCOUNT_SECRET = "service-account";
export const SERVICE_ACCOUNT_PATH = `${KV_MOUNT}/data/${SERVICE_ACCOUNT_SECRET}`;

export const APPROLE_MOUNT = "approle";
export const CERT_AUTH_MOUNT = "cert";

export const PRINCIPALS = ["etcd", "controlplane", "worker", "loadbalancer", "operator", "auditor"] as const;
export type Principal = (typeof PRINCIPALS)[number];

export function policyName(principal: Principal | HostRole): string {
  return `hak-${principal}`;
}

/** The PKI role of a profile: shared profiles have one role, per-host ones one per host. */
export function pkiRoleName(profile: string, host?: string): string {
  return host === undefined ? profile : `${profile}-${host}`;
}

/** AppRole role and cert-auth role of a host carry the host's name. */
export function authRoleName(host: string): string {
  return host;
}

/** A fixed, non-secret role ID, so the NixOS module can write it into the agent config. */
export function approleRoleId(cluster: string, host: string): string {
  return `hak-${cluster}-${host}`;
}

export function entityName(host: string): string {
  return `hak-host-${host}`;
}

/** Every certificate carries its profile in the OU, so issuer-side views can tell etcd-server from etcd-peer. */
export function profileOu(profile: string): string {
  return `hak:${profile}`;
}

export function profileFromOu(ous: readonly string[]): string | undefined {
  const tag = ous.find((o) => o.startsWith("hak:"));
  return tag?.slice(4);
}

/**
 * Which host holds a certificate of a shared profile (kube-proxy,
 * apiserver-etcd-client, ...): every holder gets the same subject, so the
 * agent adds this URI SAN, and the shared roles allow only the one rendered
 * from the token's identity (`allowed_uri_sans_template`): a host can name
 * itself, never another host. serve reads it back to show each holder.
 */
export const HOLDER_URI_PREFIX = "urn:hak:host:";

export function holderUri(host: string): string {
  return `${HOLDER_URI_PREFIX}${host}`;
}

/** The shared roles' allowed_uri_sans: the requesting host's own URI, from its identity's metadata. */
export const HOLDER_URI_TEMPLATE = `${HOLDER_URI_PREFIX}{{identity.entity.metadata.host}}`;

/** The host a holder URI names, if any. */
export function hostFromUris(uris: readonly string[] | undefined): string | undefined {
  const u = uris?.find((x) => x.startsWith(HOLDER_URI_PREFIX));
  return u?.slice(HOLDER_URI_PREFIX.length);
}
