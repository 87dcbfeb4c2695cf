import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { Host, HostRole, Inventory } from "../common/inventory.js";
import { hostCidr } from "../common/ip.js";
import { backdateSeconds } from "../common/lifetime.js";
import {
  HOLDER_URI_TEMPLATE,
  APPROLE_MOUNT,
  CA_COMMON_NAME,
  CA_NAMES,
  CERT_AUTH_MOUNT,
  KV_MOUNT,
  PKI_MOUNT,
  PRINCIPALS,
  approleRoleId,
  authRoleName,
  entityName,
  pkiRoleName,
  policyName,
  profileOu,
  type CaName,
} from "../common/names.js";
import { POLICIES_DIR } from "../common/paths.js";
import { PROFILES, PROFILE_NAMES, type Profile } from "../common/profiles.js";
import { celCapable } from "../common/sign.js";
import { celProgram } from "./cel.js";

/**
 * The desired state of Vault for an inventory, as plain data: every object
 * hak-pki reconciles, with the fields it owns. Pure except for reading the
 * policy files (which are part of the program, not input).
 */

/** CA lifetime: 10 years, as kubeadm. */
export const CA_TTL_SECONDS = 87600 * 3600;
/** Secret IDs live one hour: long enough for a first deploy, useless afterwards. */
export const SECRET_ID_TTL_SECONDS = 3600;
export const HOST_TOKEN_TTL_SECONDS = 3600;
export const HOST_TOKEN_MAX_TTL_SECONDS = 24 * 3600;

export type DesiredKind =
  | "mount"
  | "mount-tune"
  | "ca"
  | "pki-config"
  | "pki-role"
  | "pki-cel-role"
  | "kv-secret"
  | "policy"
  | "auth-mount"
  | "approle-role"
  | "approle-role-id"
  | "cert-role"
  | "entity"
  | "entity-alias"
  | "audit";

/**
 * One object. `fields` are written to `path` and compared with what Vault
 * reads back from `readPath` (default: `path`); fields Vault has but we do not
 * set are left alone. `createOnly` objects are never rewritten (CAs, the
 * service-account key).
 */
export interface DesiredObject {
  kind: DesiredKind;
  /** Stable identity for plans and tests, e.g. "pki-role pki-etcd/roles/etcd-server.etcd1". */
  id: string;
  path: string;
  readPath?: string;
  fields: Record<string, unknown>;
  createOnly?: boolean;
  /** Host the object belongs to, if any (for deletion of removed hosts and for reports). */
  host?: string;
}

export interface DesiredState {
  objects: DesiredObject[];
  /** Per-host roles that belong to hosts in the inventory (others on hak mounts are stale). */
  hosts: Host[];
}

export interface DesiredOptions {
  /** Addresses hosts use to reach Vault: written into issuing/CRL URLs. */
  vaultAddresses: string[];
  /** Path of the file audit device on the Vault server; none when undefined. */
  auditFile?: string;
  /** The server has OpenBao's CEL roles: per-host roles with IP SANs become CEL roles. */
  cel?: boolean;
  /**
   * The server has OpenBao's `not_after_bound` / `not_before_bound` role
   * fields (>= 2.3.1): a requester cannot choose not_after or not_before.
   * HashiCorp Vault has no such field and honours a requested not_after up
   * to the CA's expiry (docs/policies.md says what is left there).
   */
  boundedValidity?: boolean;
  /** The server has OpenBao's `allowed_ip_sans_cidr` role field (>= 2.5.0). */
  ipSansCidr?: boolean;
}

/**
 * Keys every role accepts: ECDSA on P-256 or a larger curve. Classic roles
 * take one key type, so hak's leaves are EC (kubeadm's ECDSA-P256); CEL roles
 * also take RSA of 2048 bits or more (cel.ts), never less.
 */
export const LEAF_KEY = { type: "ec", minBits: 256 } as const;

export function roleKeyUsage(): string[] {
  return ["DigitalSignature", "KeyEncipherment"];
}

/** The Vault role of a profile, for one host (per-host profiles) or shared. */
export function pkiRoleFields(inv: Inventory, profile: Profile, host: Host | undefined, opts: { boundedValidity?: boolean; ipSansCidr?: boolean } = {}): Record<string, unknown> {
  const sans = profile.sans(inv, host);
  const cn = profile.commonName(host);
  const names = [...new Set([cn, ...sans.dns])];
  const org = profile.organization(host);
  return {
    allowed_domains: names,
    allow_bare_domains: true,
    allow_subdomains: false,
    allow_glob_domains: false,
    allow_wildcard_certificates: false,
    allow_any_name: false,
    allow_localhost: sans.dns.includes("localhost"),
    // CNs like system:node:worker1 are not hostnames; names are still pinned by allowed_domains.
    enforce_hostnames: false,
    allow_ip_sans: sans.ip.length > 0,
    // Shared profiles: each holder may name itself (and only itself), so serve can tell holders apart.
    allowed_uri_sans: profile.perHost ? [] : [HOLDER_URI_TEMPLATE],
    allowed_uri_sans_template: !profile.perHost,
    allowed_other_sans: [],
    server_flag: profile.usage !== "client",
    client_flag: profile.usage !== "server",
    code_signing_flag: false,
    email_protection_flag: false,
    // No SAN kind a profile does not use, no extra usage, no policy OIDs, no CA bit.
    allowed_user_ids: [],
    ext_key_usage_oids: [],
    policy_identifiers: [],
    basic_constraints_valid_for_non_ca: false,
    key_type: LEAF_KEY.type,
    key_bits: LEAF_KEY.minBits,
    key_usage: roleKeyUsage(),
    ext_key_usage: [],
    organization: org ? [org] : [],
    ou: [profileOu(profile.name)],
    ttl: inv.leafTtl,
    max_ttl: inv.leafTtl,
    not_before_duration: backdateSeconds(inv.leafTtl),
    use_csr_common_name: true,
    // A profile without SANs takes none from the CSR: Vault would otherwise accept an
    // email SAN whose domain part is the CN (root@system:kube-proxy).
    use_csr_sans: sans.dns.length + sans.ip.length > 0,
    require_cn: true,
    no_store: false,
    generate_lease: false,
    // Without these a requester's not_after beats max_ttl, up to the CA's own expiry.
    ...(opts.boundedValidity ? { not_after_bound: "forbid", not_before_bound: "forbid" } : {}),
    // OpenBao >= 2.5 pins IP SANs on classic roles too (where CEL roles are not used).
    ...(opts.ipSansCidr ? { allowed_ip_sans_cidr: sans.ip.map(hostCidr) } : {}),
  };
}

export function readPolicyFile(principal: string): string {
  return readFileSync(join(POLICIES_DIR, `${policyName(principal as HostRole)}.hcl`), "utf8");
}

function pkiMountObjects(ca: CaName, opts: DesiredOptions): DesiredObject[] {
  const mount = PKI_MOUNT[ca];
  const base = opts.vaultAddresses.map((a) => a.replace(/\/+$/, ""));
  return [
    {
      kind: "mount",
      id: `mount ${mount}`,
      path: `sys/mounts/${mount}`,
      fields: { type: "pki", description: `hak: ${ca} CA` },
      createOnly: true,
    },
    {
      kind: "mount-tune",
      id: `mount-tune ${mount}`,
      path: `sys/mounts/${mount}/tune`,
      fields: { max_lease_ttl: CA_TTL_SECONDS },
    },
    {
      kind: "ca",
      id: `ca ${mount}`,
      path: `${mount}/root/generate/internal`,
      readPath: `${mount}/issuer/default`,
      fields: {
        common_name: CA_COMMON_NAME[ca],
        issuer_name: `${ca}-ca`,
        key_name: `${ca}-ca`,
        key_type: "rsa",
        key_bits: 2048,
        ttl: `${CA_TTL_SECONDS}s`,
      },
      createOnly: true,
    },
    {
      kind: "pki-config",
      id: `pki-config ${mount}/config/urls`,
      path: `${mount}/config/urls`,
      fields: {
        issuing_certificates: base.map((a) => `${a}/v1/${mount}/ca`),
        crl_distribution_points: base.map((a) => `${a}/v1/${mount}/crl`),
      },
    },
    {
      kind: "pki-config",
      id: `pki-config ${mount}/config/crl`,
      path: `${mount}/config/crl`,
      fields: { auto_rebuild: true, expiry: "72h" },
    },
    {
      kind: "pki-config",
      id: `pki-config ${mount}/config/auto-tidy`,
      path: `${mount}/config/auto-tidy`,
      fields: {
        enabled: true,
        interval_duration: 12 * 3600,
        tidy_cert_store: true,
        tidy_revoked_certs: true,
        tidy_revoked_cert_issuer_associations: true,
        safety_buffer: 72 * 3600,
      },
    },
  ];
}

function roleObjects(inv: Inventory, cel: boolean, bounds: { boundedValidity: boolean; ipSansCidr: boolean }): DesiredObject[] {
  const out: DesiredObject[] = [];
  for (const name of PROFILE_NAMES) {
    const profile = PROFILES[name];
    const mount = PKI_MOUNT[profile.ca];
    const hosts: (Host | undefined)[] = profile.perHost ? inv.hosts.filter((h) => profile.hostRoles.includes(h.role)) : [undefined];
    for (const host of hosts) {
      const role = pkiRoleName(name, host?.name);
      if (cel && host && celCapable(profile.name)) {
        out.push({
          kind: "pki-cel-role",
          id: `pki-cel-role ${mount}/cel/roles/${role}`,
          path: `${mount}/cel/roles/${role}`,
          fields: { cel_program: celProgram(inv, profile, host) },
          host: host.name,
        });
        continue;
      }
      out.push({
        kind: "pki-role",
        id: `pki-role ${mount}/roles/${role}`,
        path: `${mount}/roles/${role}`,
        fields: pkiRoleFields(inv, profile, host, bounds),
        host: host?.name,
      });
    }
  }
  return out;
}

function hostAuthObjects(inv: Inventory, host: Host): DesiredObject[] {
  const cidr = [hostCidr(host.address)];
  // Vault reads token_bound_cidrs back as bare addresses; write them that way so plans compare.
  const tokenCidr = [host.address];
  const policies = [policyName(host.role)];
  const role = authRoleName(host.name);
  return [
    {
      kind: "approle-role",
      id: `approle-role auth/${APPROLE_MOUNT}/role/${role}`,
      path: `auth/${APPROLE_MOUNT}/role/${role}`,
      host: host.name,
      fields: {
        bind_secret_id: true,
        secret_id_num_uses: 1,
        secret_id_ttl: SECRET_ID_TTL_SECONDS,
        secret_id_bound_cidrs: cidr,
        token_bound_cidrs: tokenCidr,
        token_policies: policies,
        token_ttl: HOST_TOKEN_TTL_SECONDS,
        token_max_ttl: HOST_TOKEN_MAX_TTL_SECONDS,
        token_num_uses: 0,
        token_type: "service",
      },
    },
    {
      kind: "approle-role-id",
      id: `approle-role-id auth/${APPROLE_MOUNT}/role/${role}/role-id`,
      path: `auth/${APPROLE_MOUNT}/role/${role}/role-id`,
      host: host.name,
      fields: { role_id: approleRoleId(inv.name, host.name) },
    },
    {
      kind: "cert-role",
      id: `cert-role auth/${CERT_AUTH_MOUNT}/certs/${role}`,
      path: `auth/${CERT_AUTH_MOUNT}/certs/${role}`,
      host: host.name,
      // `certificate` (the identity CA) is filled in by the reconciler once the CA exists.
      fields: {
        display_name: host.name,
        allowed_common_names: [host.name],
        token_policies: policies,
        token_bound_cidrs: tokenCidr,
        token_ttl: HOST_TOKEN_TTL_SECONDS,
        token_max_ttl: HOST_TOKEN_MAX_TTL_SECONDS,
        token_type: "service",
      },
    },
    {
      kind: "entity",
      id: `entity identity/entity/name/${entityName(host.name)}`,
      path: `identity/entity/name/${entityName(host.name)}`,
      host: host.name,
      fields: { metadata: { host: host.name, role: host.role, cluster: inv.name }, policies: [] },
    },
    {
      kind: "entity-alias",
      id: `entity-alias ${APPROLE_MOUNT} ${approleRoleId(inv.name, host.name)}`,
      path: "identity/entity-alias",
      host: host.name,
      fields: { name: approleRoleId(inv.name, host.name), mount: APPROLE_MOUNT, entity: entityName(host.name) },
    },
    {
      kind: "entity-alias",
      id: `entity-alias ${CERT_AUTH_MOUNT} ${host.name}`,
      path: "identity/entity-alias",
      host: host.name,
      // Cert auth names its alias after the client certificate's CN: the host identity's CN is the host name.
      fields: { name: host.name, mount: CERT_AUTH_MOUNT, entity: entityName(host.name) },
    },
  ];
}

/** The whole desired state, in the order it must be applied. */
export function desiredState(inv: Inventory, opts: DesiredOptions): DesiredState {
  const objects: DesiredObject[] = [];
  if (opts.auditFile) {
    objects.push({
      kind: "audit",
      id: "audit hak-file",
      path: "sys/audit/hak-file",
      fields: { type: "file", options: { file_path: opts.auditFile } },
      createOnly: true,
    });
  }
  for (const ca of CA_NAMES) objects.push(...pkiMountObjects(ca, opts));
  objects.push(
    {
      kind: "mount",
      id: `mount ${KV_MOUNT}`,
      path: `sys/mounts/${KV_MOUNT}`,
      fields: { type: "kv", options: { version: "2" }, description: "hak: cluster secrets" },
      createOnly: true,
    },
    {
      kind: "kv-secret",
      id: `kv-secret ${KV_MOUNT}/data/service-account`,
      path: `${KV_MOUNT}/data/service-account`,
      fields: {},
      createOnly: true,
    },
  );
  objects.push(...roleObjects(inv, opts.cel ?? false, { boundedValidity: opts.boundedValidity ?? false, ipSansCidr: opts.ipSansCidr ?? false }));
  for (const p of PRINCIPALS) {
    objects.push({
      kind: "policy",
      id: `policy ${policyName(p)}`,
      path: `sys/policies/acl/${policyName(p)}`,
      fields: { policy: readPolicyFile(p) },
    });
  }
  objects.push(
    { kind: "auth-mount", id: `auth-mount ${APPROLE_MOUNT}`, path: `sys/auth/${APPROLE_MOUNT}`, fields: { type: "approle" }, createOnly: true },
    { kind: "auth-mount", id: `auth-mount ${CERT_AUTH_MOUNT}`, path: `sys/auth/${CERT_AUTH_MOUNT}`, fields: { type: "cert" }, createOnly: true },
  );
  for (const host of inv.hosts) objects.push(...hostAuthObjects(inv, host));
  return { objects, hosts: inv.hosts };
}
