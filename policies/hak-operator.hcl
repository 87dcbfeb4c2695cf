# hak-operator: day-2 work of a person. `hak-pki issue` (sign a CSR made on
# the operator's machine, for any profile, e.g. admin), `hak-pki status` and
# `serve` (read everything hak owns), revoke a certificate, and
# `hak-deploy enroll` (mint a single-use secret ID for a host's AppRole role).
#
# It cannot grant itself or anyone more: no write on sys/policies, no auth
# role or identity writes, no mounts, no audit devices, no tokens. Bootstrap
# (which must write those) runs with its own credential, hak-bootstrap
# (`hak-pki bootstrap --print-policy`). Signing takes exactly the parameters hak
# sends; `not_after`, `not_before`, SAN and subject overrides and issuer
# choice are refused by the ACL itself, on HashiCorp Vault too.
# docs/policies.md lists what it can and cannot do.

# pki-kubernetes
path "pki-kubernetes/sign/*" {
  capabilities = ["update"]
  allowed_parameters = {
    "csr" = []
    "common_name" = []
    "format" = ["pem"]
    "exclude_cn_from_sans" = [true]
    "ttl" = []
  }
}
path "pki-kubernetes/cel/sign/*" {
  capabilities = ["update"]
  allowed_parameters = {
    "csr" = []
    "common_name" = []
    "format" = ["pem"]
    "exclude_cn_from_sans" = [true]
    "ttl" = []
  }
}
path "pki-kubernetes/revoke" {
  capabilities = ["update"]
  allowed_parameters = {
    "serial_number" = []
  }
}
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
path "pki-kubernetes/config/urls" {
  capabilities = ["read"]
}
path "pki-kubernetes/config/crl" {
  capabilities = ["read"]
}
path "pki-kubernetes/config/auto-tidy" {
  capabilities = ["read"]
}
path "pki-kubernetes/issuers" {
  capabilities = ["list"]
}
path "pki-kubernetes/issuer/default" {
  capabilities = ["read"]
}
path "pki-kubernetes/cert/*" {
  capabilities = ["read"]
}
path "pki-kubernetes/certs" {
  capabilities = ["list"]
}
path "pki-kubernetes/certs/revoked" {
  capabilities = ["list"]
}

# pki-etcd
path "pki-etcd/sign/*" {
  capabilities = ["update"]
  allowed_parameters = {
    "csr" = []
    "common_name" = []
    "format" = ["pem"]
    "exclude_cn_from_sans" = [true]
    "ttl" = []
  }
}
path "pki-etcd/cel/sign/*" {
  capabilities = ["update"]
  allowed_parameters = {
    "csr" = []
    "common_name" = []
    "format" = ["pem"]
    "exclude_cn_from_sans" = [true]
    "ttl" = []
  }
}
path "pki-etcd/revoke" {
  capabilities = ["update"]
  allowed_parameters = {
    "serial_number" = []
  }
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
path "pki-etcd/config/urls" {
  capabilities = ["read"]
}
path "pki-etcd/config/crl" {
  capabilities = ["read"]
}
path "pki-etcd/config/auto-tidy" {
  capabilities = ["read"]
}
path "pki-etcd/issuers" {
  capabilities = ["list"]
}
path "pki-etcd/issuer/default" {
  capabilities = ["read"]
}
path "pki-etcd/cert/*" {
  capabilities = ["read"]
}
path "pki-etcd/certs" {
  capabilities = ["list"]
}
path "pki-etcd/certs/revoked" {
  capabilities = ["list"]
}

# pki-front-proxy
path "pki-front-proxy/sign/*" {
  capabilities = ["update"]
  allowed_parameters = {
    "csr" = []
    "common_name" = []
    "format" = ["pem"]
    "exclude_cn_from_sans" = [true]
    "ttl" = []
  }
}
path "pki-front-proxy/cel/sign/*" {
  capabilities = ["update"]
  allowed_parameters = {
    "csr" = []
    "common_name" = []
    "format" = ["pem"]
    "exclude_cn_from_sans" = [true]
    "ttl" = []
  }
}
path "pki-front-proxy/revoke" {
  capabilities = ["update"]
  allowed_parameters = {
    "serial_number" = []
  }
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
path "pki-front-proxy/config/urls" {
  capabilities = ["read"]
}
path "pki-front-proxy/config/crl" {
  capabilities = ["read"]
}
path "pki-front-proxy/config/auto-tidy" {
  capabilities = ["read"]
}
path "pki-front-proxy/issuers" {
  capabilities = ["list"]
}
path "pki-front-proxy/issuer/default" {
  capabilities = ["read"]
}
path "pki-front-proxy/cert/*" {
  capabilities = ["read"]
}
path "pki-front-proxy/certs" {
  capabilities = ["list"]
}
path "pki-front-proxy/certs/revoked" {
  capabilities = ["list"]
}

# pki-identity
path "pki-identity/sign/*" {
  capabilities = ["update"]
  allowed_parameters = {
    "csr" = []
    "common_name" = []
    "format" = ["pem"]
    "exclude_cn_from_sans" = [true]
    "ttl" = []
  }
}
path "pki-identity/cel/sign/*" {
  capabilities = ["update"]
  allowed_parameters = {
    "csr" = []
    "common_name" = []
    "format" = ["pem"]
    "exclude_cn_from_sans" = [true]
    "ttl" = []
  }
}
path "pki-identity/revoke" {
  capabilities = ["update"]
  allowed_parameters = {
    "serial_number" = []
  }
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
path "pki-identity/config/urls" {
  capabilities = ["read"]
}
path "pki-identity/config/crl" {
  capabilities = ["read"]
}
path "pki-identity/config/auto-tidy" {
  capabilities = ["read"]
}
path "pki-identity/issuers" {
  capabilities = ["list"]
}
path "pki-identity/issuer/default" {
  capabilities = ["read"]
}
path "pki-identity/cert/*" {
  capabilities = ["read"]
}
path "pki-identity/certs" {
  capabilities = ["list"]
}
path "pki-identity/certs/revoked" {
  capabilities = ["list"]
}

# What exists: mounts, auth backends, audit devices (listing needs sudo; it writes nothing).
path "sys/mounts" {
  capabilities = ["read"]
}
path "sys/auth" {
  capabilities = ["read"]
}
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

# Whether the service-account pair exists; not its value.
path "hak-kv/metadata/service-account" {
  capabilities = ["read"]
}

# Enrolment: a secret ID for a host's role, bound to the host's address.
# The role caps its uses (1), lifetime and CIDRs; the secret ID can only
# narrow them. Its metadata lands on the token, never on the identity the
# host policies are templated on.
path "auth/approle/role" {
  capabilities = ["list"]
}
path "auth/approle/role/+" {
  capabilities = ["read"]
}
path "auth/approle/role/+/role-id" {
  capabilities = ["read"]
}
path "auth/approle/role/+/secret-id" {
  capabilities = ["update", "list"]
  allowed_parameters = {
    "cidr_list" = []
    "token_bound_cidrs" = []
    "num_uses" = []
    "ttl" = []
    "metadata" = []
  }
}
path "auth/approle/role/+/secret-id-accessor/destroy" {
  capabilities = ["update"]
  allowed_parameters = {
    "secret_id_accessor" = []
  }
}
path "auth/approle/role/+/secret-id-accessor/lookup" {
  capabilities = ["update"]
  allowed_parameters = {
    "secret_id_accessor" = []
  }
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
