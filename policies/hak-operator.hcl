# A hak operator: runs `hak-pki bootstrap` (reconciles hak's mounts, CAs,
# roles, policies, auth roles and host identities) and `hak-pki issue`
# (signs a CSR made on the operator's machine for any profile, e.g. admin).
# It reaches only hak's own objects: it cannot read other mounts, other
# policies, or Vault's raw storage.

# Mounts: list them, and manage hak's own.
path "sys/mounts" {
  capabilities = ["read"]
}
path "sys/mounts/pki-kubernetes*" {
  capabilities = ["create", "read", "update"]
}
path "sys/mounts/pki-etcd*" {
  capabilities = ["create", "read", "update"]
}
path "sys/mounts/pki-front-proxy*" {
  capabilities = ["create", "read", "update"]
}
path "sys/mounts/pki-identity*" {
  capabilities = ["create", "read", "update"]
}
path "sys/mounts/hak-kv*" {
  capabilities = ["create", "read", "update"]
}

# The PKI engines, path by path: CAs are generated inside Vault (the
# `exported` variants, `issue` and `sign-verbatim` are not granted, so no CA
# or leaf key ever leaves Vault and every certificate follows a role).
path "pki-kubernetes/root/generate/internal" {
  capabilities = ["update"]
}
path "pki-kubernetes/roles" {
  capabilities = ["list"]
}
path "pki-kubernetes/roles/*" {
  capabilities = ["create", "read", "update", "delete"]
}
path "pki-kubernetes/cel/roles" {
  capabilities = ["list"]
}
path "pki-kubernetes/cel/roles/*" {
  capabilities = ["create", "read", "update", "delete"]
}
path "pki-kubernetes/cel/sign/*" {
  capabilities = ["update"]
}
path "pki-kubernetes/config/*" {
  capabilities = ["read", "update"]
}
path "pki-kubernetes/sign/*" {
  capabilities = ["update"]
}
path "pki-kubernetes/issuers" {
  capabilities = ["list"]
}
path "pki-kubernetes/issuer/*" {
  capabilities = ["read"]
}
path "pki-kubernetes/certs" {
  capabilities = ["list"]
}
path "pki-kubernetes/certs/revoked" {
  capabilities = ["list"]
}
path "pki-kubernetes/cert/*" {
  capabilities = ["read"]
}
path "pki-kubernetes/revoke" {
  capabilities = ["update"]
}

path "pki-etcd/root/generate/internal" {
  capabilities = ["update"]
}
path "pki-etcd/roles" {
  capabilities = ["list"]
}
path "pki-etcd/roles/*" {
  capabilities = ["create", "read", "update", "delete"]
}
path "pki-etcd/cel/roles" {
  capabilities = ["list"]
}
path "pki-etcd/cel/roles/*" {
  capabilities = ["create", "read", "update", "delete"]
}
path "pki-etcd/cel/sign/*" {
  capabilities = ["update"]
}
path "pki-etcd/config/*" {
  capabilities = ["read", "update"]
}
path "pki-etcd/sign/*" {
  capabilities = ["update"]
}
path "pki-etcd/issuers" {
  capabilities = ["list"]
}
path "pki-etcd/issuer/*" {
  capabilities = ["read"]
}
path "pki-etcd/certs" {
  capabilities = ["list"]
}
path "pki-etcd/certs/revoked" {
  capabilities = ["list"]
}
path "pki-etcd/cert/*" {
  capabilities = ["read"]
}
path "pki-etcd/revoke" {
  capabilities = ["update"]
}

path "pki-front-proxy/root/generate/internal" {
  capabilities = ["update"]
}
path "pki-front-proxy/roles" {
  capabilities = ["list"]
}
path "pki-front-proxy/roles/*" {
  capabilities = ["create", "read", "update", "delete"]
}
path "pki-front-proxy/cel/roles" {
  capabilities = ["list"]
}
path "pki-front-proxy/cel/roles/*" {
  capabilities = ["create", "read", "update", "delete"]
}
path "pki-front-proxy/cel/sign/*" {
  capabilities = ["update"]
}
path "pki-front-proxy/config/*" {
  capabilities = ["read", "update"]
}
path "pki-front-proxy/sign/*" {
  capabilities = ["update"]
}
path "pki-front-proxy/issuers" {
  capabilities = ["list"]
}
path "pki-front-proxy/issuer/*" {
  capabilities = ["read"]
}
path "pki-front-proxy/certs" {
  capabilities = ["list"]
}
path "pki-front-proxy/certs/revoked" {
  capabilities = ["list"]
}
path "pki-front-proxy/cert/*" {
  capabilities = ["read"]
}
path "pki-front-proxy/revoke" {
  capabilities = ["update"]
}

path "pki-identity/root/generate/internal" {
  capabilities = ["update"]
}
path "pki-identity/roles" {
  capabilities = ["list"]
}
path "pki-identity/roles/*" {
  capabilities = ["create", "read", "update", "delete"]
}
path "pki-identity/cel/roles" {
  capabilities = ["list"]
}
path "pki-identity/cel/roles/*" {
  capabilities = ["create", "read", "update", "delete"]
}
path "pki-identity/cel/sign/*" {
  capabilities = ["update"]
}
path "pki-identity/config/*" {
  capabilities = ["read", "update"]
}
path "pki-identity/sign/*" {
  capabilities = ["update"]
}
path "pki-identity/issuers" {
  capabilities = ["list"]
}
path "pki-identity/issuer/*" {
  capabilities = ["read"]
}
path "pki-identity/certs" {
  capabilities = ["list"]
}
path "pki-identity/certs/revoked" {
  capabilities = ["list"]
}
path "pki-identity/cert/*" {
  capabilities = ["read"]
}
path "pki-identity/revoke" {
  capabilities = ["update"]
}

# The service-account key pair: created once, never overwritten (check-and-set).
path "hak-kv/data/service-account" {
  capabilities = ["create", "read"]
}
path "hak-kv/metadata/*" {
  capabilities = ["read", "list"]
}

# hak's policies.
path "sys/policies/acl" {
  capabilities = ["list"]
}
path "sys/policies/acl/hak-*" {
  capabilities = ["create", "read", "update", "delete"]
}

# Auth backends and the per-host roles; secret IDs for enrolment.
path "sys/auth" {
  capabilities = ["read"]
}
path "sys/auth/approle" {
  capabilities = ["create", "read", "update", "sudo"]
}
path "sys/auth/cert" {
  capabilities = ["create", "read", "update", "sudo"]
}
path "auth/approle/role" {
  capabilities = ["list"]
}
path "auth/approle/role/*" {
  capabilities = ["create", "read", "update", "delete", "list"]
}
path "auth/cert/certs" {
  capabilities = ["list"]
}
path "auth/cert/certs/*" {
  capabilities = ["create", "read", "update", "delete"]
}

# One identity entity per host, with aliases on both auth mounts.
path "identity/entity/name" {
  capabilities = ["list"]
}
path "identity/entity/name/hak-host-*" {
  capabilities = ["create", "read", "update", "delete"]
}
path "identity/entity/id/*" {
  capabilities = ["read"]
}
path "identity/entity-alias" {
  capabilities = ["create", "update"]
}
path "identity/entity-alias/id/*" {
  capabilities = ["read", "update", "delete"]
}

# The file audit device.
path "sys/audit" {
  capabilities = ["read", "sudo"]
}
path "sys/audit/hak-file" {
  capabilities = ["create", "update", "sudo"]
}
