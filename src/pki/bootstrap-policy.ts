import { HOST_ROLES } from "../common/inventory.js";
import { APPROLE_MOUNT, CA_NAMES, CERT_AUTH_MOUNT, KV_MOUNT, PKI_MOUNT, PRINCIPALS, SERVICE_ACCOUNT_SECRET, policyName } from "../common/names.js";
import { readPolicyFile } from "./desired.js";

/**
 * The policy of the credential `hak-pki bootstrap` runs with, rendered from
 * what bootstrap writes (so it cannot drift from it). Bootstrap has to write
 * ACL policies, auth roles and identities — the very things that make a
 * credential root in disguise — so every such path is exact and every body is
 * pinned with `allowed_parameters`: a policy write must carry, byte for byte,
 * the text of hak's own policy file of that name; an auth role or entity may
 * carry only host policies. A token holding it therefore cannot mint a policy
 * of its own, give an auth role `root`, mount an engine hak does not own, or
 * rewrite its own policy (hak-bootstrap is installed by root, not by itself).
 *
 * What it still can do, by necessity: create and rewrite PKI roles on hak's
 * four mounts (so it decides what hosts may be issued), set the identity CA
 * on cert-auth roles, and create hak's audit device. docs/policies.md.
 */

export const BOOTSTRAP_POLICY_NAME = "hak-bootstrap";

const q = (s: string) => JSON.stringify(s);
const list = (xs: readonly unknown[]): string => `[${xs.map((x): string => (Array.isArray(x) ? list(x) : q(String(x)))).join(", ")}]`;

interface Rule {
  path: string;
  caps: string[];
  /** Parameter -> allowed values; [] allows any value, the key alone allows the parameter. */
  allowed?: Record<string, readonly unknown[]>;
  comment?: string;
}

function render(rules: Rule[]): string {
  return rules
    .map((r) => {
      const head = r.comment ? `# ${r.comment}\n` : "";
      const allowed = r.allowed
        ? `\n  allowed_parameters = {\n${Object.entries(r.allowed)
            .map(([k, v]) => `    ${q(k)} = ${list(v)}`)
            .join("\n")}\n  }`
        : "";
      return `${head}path ${q(r.path)} {\n  capabilities = ${list(r.caps)}${allowed}\n}\n`;
    })
    .join("\n");
}

const HOST_POLICIES = HOST_ROLES.map((r) => [policyName(r)]);

export function bootstrapPolicyRules(): Rule[] {
  const rules: Rule[] = [
    { path: "sys/mounts", caps: ["read"] },
    { path: "sys/auth", caps: ["read"] },
    { path: "sys/audit", caps: ["read", "sudo"], comment: "listing audit devices needs sudo; it writes nothing" },
    { path: "sys/audit/hak-file", caps: ["create", "update", "sudo"], allowed: { type: ["file"], options: [] } },
  ];
  for (const ca of CA_NAMES) {
    const m = PKI_MOUNT[ca];
    rules.push(
      { path: `sys/mounts/${m}`, caps: ["create", "read", "update"], allowed: { type: ["pki"], description: [] }, comment: `the ${ca} CA's mount, exactly` },
      { path: `sys/mounts/${m}/tune`, caps: ["read", "update"], allowed: { max_lease_ttl: [] } },
      {
        path: `${m}/root/generate/internal`,
        caps: ["update"],
        allowed: { common_name: [], issuer_name: [], key_name: [], key_type: [], key_bits: [], ttl: [] },
        comment: "the CA key is made inside Vault and never leaves it (no `exported`)",
      },
      { path: `${m}/issuers`, caps: ["list"] },
      { path: `${m}/issuer/default`, caps: ["read"] },
      { path: `${m}/cert/ca`, caps: ["read"] },
      { path: `${m}/config/urls`, caps: ["read", "update"] },
      { path: `${m}/config/crl`, caps: ["read", "update"] },
      { path: `${m}/config/auto-tidy`, caps: ["read", "update"] },
      { path: `${m}/roles`, caps: ["list"] },
      { path: `${m}/roles/*`, caps: ["create", "read", "update", "delete"] },
      { path: `${m}/cel/roles`, caps: ["list"] },
      { path: `${m}/cel/roles/*`, caps: ["create", "read", "update", "delete"] },
    );
  }
  rules.push(
    { path: `sys/mounts/${KV_MOUNT}`, caps: ["create", "read", "update"], allowed: { type: ["kv"], options: [], description: [] } },
    {
      path: `${KV_MOUNT}/data/${SERVICE_ACCOUNT_SECRET}`,
      caps: ["create"],
      comment: "written once (check-and-set 0), never read back or replaced",
    },
    { path: `${KV_MOUNT}/metadata/${SERVICE_ACCOUNT_SECRET}`, caps: ["read"] },
    { path: "sys/policies/acl", caps: ["list"] },
  );
  for (const p of PRINCIPALS) {
    rules.push({
      path: `sys/policies/acl/${policyName(p)}`,
      caps: ["create", "read", "update"],
      allowed: { policy: [readPolicyFile(p)] },
      comment: `only the text of policies/${policyName(p)}.hcl`,
    });
  }
  rules.push(
    { path: `sys/auth/${APPROLE_MOUNT}`, caps: ["create", "read", "update", "sudo"], allowed: { type: ["approle"] } },
    { path: `sys/auth/${CERT_AUTH_MOUNT}`, caps: ["create", "read", "update", "sudo"], allowed: { type: ["cert"] } },
    { path: `auth/${APPROLE_MOUNT}/role`, caps: ["list"] },
    {
      path: `auth/${APPROLE_MOUNT}/role/+`,
      caps: ["create", "read", "update", "delete"],
      allowed: {
        token_policies: HOST_POLICIES,
        bind_secret_id: [],
        secret_id_num_uses: [],
        secret_id_ttl: [],
        secret_id_bound_cidrs: [],
        token_bound_cidrs: [],
        token_ttl: [],
        token_max_ttl: [],
        token_num_uses: [],
        token_type: ["service"],
      },
      comment: "host roles: only a host policy, never `policies` or `root`",
    },
    { path: `auth/${APPROLE_MOUNT}/role/+/role-id`, caps: ["read", "update"], allowed: { role_id: [] } },
    { path: `auth/${CERT_AUTH_MOUNT}/certs`, caps: ["list"] },
    {
      path: `auth/${CERT_AUTH_MOUNT}/certs/+`,
      caps: ["create", "read", "update", "delete"],
      allowed: {
        token_policies: HOST_POLICIES,
        certificate: [],
        display_name: [],
        allowed_common_names: [],
        token_bound_cidrs: [],
        token_ttl: [],
        token_max_ttl: [],
        token_type: ["service"],
      },
    },
    { path: "identity/entity/name", caps: ["list"] },
    {
      path: "identity/entity/name/hak-host-*",
      caps: ["create", "read", "update", "delete"],
      allowed: { metadata: [], policies: [[]] },
      comment: "host entities carry metadata, never policies",
    },
    { path: "identity/entity-alias", caps: ["create", "update"], allowed: { name: [], canonical_id: [], mount_accessor: [] } },
    { path: "identity/entity-alias/id/*", caps: ["read", "update"], allowed: { name: [], canonical_id: [], mount_accessor: [] } },
    { path: "identity/lookup/entity", caps: ["update"], allowed: { alias_name: [], alias_mount_accessor: [] } },
  );
  return rules;
}

/** The HCL text; `hak-pki bootstrap --print-policy` prints it for `bao policy write hak-bootstrap -`. */
export function bootstrapPolicy(): string {
  return `# hak-bootstrap: the credential \`hak-pki bootstrap\` runs with. Generated by
# \`hak-pki bootstrap-policy\` from hak's own policy files; install it as root.
# See docs/policies.md for what it can and cannot do.

${render(bootstrapPolicyRules())}`;
}
