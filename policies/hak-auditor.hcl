# Read-only: `hak-pki serve` and `hak-pki status`, and people who audit
# issuance. It lists and reads certificates, CAs, roles, policies, auth roles
# and identities to compare them with the desired state. It has no `update`
# or `create` anywhere, so it can sign nothing and change nothing, and it
# cannot read the service-account private key.

# Certificates, CAs, roles and PKI settings; path by path, because a
# blanket read would include GET endpoints that act (crl/rotate).
path "pki-kubernetes/roles" {
  capabilities = ["list"]
}
path "pki-kubernetes/roles/*" {
  capabilities = ["read"]
}
path "pki-kubernetes/cel/roles" {
  capabilities = ["list"]
}
path "pki-kubernetes/cel/roles/*" {
  capabilities = ["read"]
}
path "pki-kubernetes/config/*" {
  capabilities = ["read"]
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

path "pki-etcd/roles" {
  capabilities = ["list"]
}
path "pki-etcd/roles/*" {
  capabilities = ["read"]
}
path "pki-etcd/cel/roles" {
  capabilities = ["list"]
}
path "pki-etcd/cel/roles/*" {
  capabilities = ["read"]
}
path "pki-etcd/config/*" {
  capabilities = ["read"]
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

path "pki-front-proxy/roles" {
  capabilities = ["list"]
}
path "pki-front-proxy/roles/*" {
  capabilities = ["read"]
}
path "pki-front-proxy/cel/roles" {
  capabilities = ["list"]
}
path "pki-front-proxy/cel/roles/*" {
  capabilities = ["read"]
}
path "pki-front-proxy/config/*" {
  capabilities = ["read"]
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

path "pki-identity/roles" {
  capabilities = ["list"]
}
path "pki-identity/roles/*" {
  capabilities = ["read"]
}
path "pki-identity/cel/roles" {
  capabilities = ["list"]
}
path "pki-identity/cel/roles/*" {
  capabilities = ["read"]
}
path "pki-identity/config/*" {
  capabilities = ["read"]
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

path "sys/mounts" {
  capabilities = ["read"]
}
path "sys/mounts/pki-kubernetes/tune" {
  capabilities = ["read"]
}
path "sys/mounts/pki-etcd/tune" {
  capabilities = ["read"]
}
path "sys/mounts/pki-front-proxy/tune" {
  capabilities = ["read"]
}
path "sys/mounts/pki-identity/tune" {
  capabilities = ["read"]
}
path "sys/mounts/hak-kv/tune" {
  capabilities = ["read"]
}
path "sys/auth" {
  capabilities = ["read"]
}
# Which audit devices exist (drift: a disabled audit device). Listing them
# needs sudo; sudo here grants no write.
path "sys/audit" {
  capabilities = ["read", "sudo"]
}
path "sys/policies/acl" {
  capabilities = ["list"]
}
path "sys/policies/acl/hak-etcd" {
  capabilities = ["read"]
}
path "sys/policies/acl/hak-controlplane" {
  capabilities = ["read"]
}
path "sys/policies/acl/hak-worker" {
  capabilities = ["read"]
}
path "sys/policies/acl/hak-loadbalancer" {
  capabilities = ["read"]
}
path "sys/policies/acl/hak-operator" {
  capabilities = ["read"]
}
path "sys/policies/acl/hak-auditor" {
  capabilities = ["read"]
}
path "sys/policies/acl/hak-bootstrap" {
  capabilities = ["read"]
}
path "auth/approle/role" {
  capabilities = ["list"]
}
path "auth/approle/role/+" {
  capabilities = ["read"]
}
# The role ID is not secret (the agent config holds it); drift compares it.
path "auth/approle/role/+/role-id" {
  capabilities = ["read"]
}
path "auth/cert/certs" {
  capabilities = ["list"]
}
path "auth/cert/certs/+" {
  capabilities = ["read"]
}
path "identity/entity/name" {
  capabilities = ["list"]
}
path "identity/entity/name/hak-host-*" {
  capabilities = ["read"]
}
# Whether the service-account pair exists, and its versions; not its value.
path "hak-kv/metadata/service-account" {
  capabilities = ["read"]
}
