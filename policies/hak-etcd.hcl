# An etcd host. It may have Vault sign CSRs for its own etcd server and peer
# certificates, the shared healthcheck client, and its host identity; nothing
# else. "{{identity.entity.metadata.host}}" is the host name hak-pki stored on
# the host's identity entity, so etcd1 reaches only the roles named for etcd1.
# Where the server is OpenBao >= 2.3, per-host roles with IP SANs are CEL
# roles (cel/sign), which pin the IP addresses too; elsewhere the classic
# sign path of the same name is used. Only one of the two roles exists.
# The sign paths take a CSR: private keys never leave the host. `issue`,
# `sign-verbatim` and `root/*` are not granted.

path "pki-etcd/sign/etcd-server-{{identity.entity.metadata.host}}" {
  capabilities = ["update"]
}

path "pki-etcd/cel/sign/etcd-server-{{identity.entity.metadata.host}}" {
  capabilities = ["update"]
}

path "pki-etcd/sign/etcd-peer-{{identity.entity.metadata.host}}" {
  capabilities = ["update"]
}

path "pki-etcd/cel/sign/etcd-peer-{{identity.entity.metadata.host}}" {
  capabilities = ["update"]
}

path "pki-etcd/sign/etcd-healthcheck-client" {
  capabilities = ["update"]
}

path "pki-identity/sign/host-identity-{{identity.entity.metadata.host}}" {
  capabilities = ["update"]
}

path "pki-identity/cel/sign/host-identity-{{identity.entity.metadata.host}}" {
  capabilities = ["update"]
}
