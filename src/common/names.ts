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

/**
 * Joins a profile and a host in per-host object names. Host names are DNS
 * labels and profile names are kebab-case, so neither can contain it: the
 * name splits back into exactly one (profile, host), and no shared profile's
 * role (no separator) can equal a per-host one. With "-" instead, worker
 * "serving-w1" had role "kubelet-serving-w1", the serving role of worker "w1".
 * Vault role names allow "." (`\w[\w.-]*\w`), and a policy templates it as
 * `kubelet.{{identity.entity.metadata.host}}`.
 */
export const HOST_SEPARATOR = ".";

/** The PKI role of a profile: shared profiles have one role, per-host ones one per host. */
export function pkiRoleName(profile: string, host?: string): string {
  return host === undefined ? profile : `${profile}${HOST_SEPARATOR}${host}`;
}

/** The inverse of pkiRoleName, for issuer-side views of role names. */
export function parsePkiRoleName(role: string): { profile: string; host?: string } {
  const i = role.indexOf(HOST_SEPARATOR);
  return i < 0 ? { profile: role } : { profile: role.slice(0, i), host: role.slice(i + 1) };
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

/**
 * Every per-host object name hak derives for `host`, by kind. Two hosts (or
 * a host and a shared object) may never share a name of the same kind: the
 * inventory schema checks it with objectNameClashes, and a property test
 * proves the scheme injective over generated host names.
 */
export function hostObjectNames(cluster: string, host: string, profiles: readonly string[]): { kind: string; name: string }[] {
  return [
    ...profiles.map((p) => ({ kind: "pki-role", name: pkiRoleName(p, host) })),
    { kind: "auth-role", name: authRoleName(host) },
    { kind: "approle-role-id", name: approleRoleId(cluster, host) },
    { kind: "entity", name: entityName(host) },
    { kind: "cert-alias", name: host },
  ];
}

/** Names of different (host, profile) pairs that come out equal: empty for any inventory the schema accepts. */
export function objectNameClashes(
  cluster: string,
  hosts: readonly { name: string; profiles: readonly string[] }[],
  sharedProfiles: readonly string[],
): { kind: string; name: string; owners: string[] }[] {
  const seen = new Map<string, string[]>();
  const add = (kind: string, name: string, owner: string) => {
    const key = `${kind}\u0000${name}`;
    seen.set(key, [...(seen.get(key) ?? []), owner]);
  };
  for (const p of sharedProfiles) add("pki-role", pkiRoleName(p), `shared profile ${p}`);
  for (const h of hosts) {
    for (const o of hostObjectNames(cluster, h.name, h.profiles)) add(o.kind, o.name, `host ${h.name}`);
  }
  return [...seen.entries()]
    .filter(([, owners]) => owners.length > 1)
    .map(([key, owners]) => {
      const [kind, name] = key.split("\u0000") as [string, string];
      return { kind, name, owners };
    });
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
