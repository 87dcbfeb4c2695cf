# An etcd host. It may have Vault sign CSRs for its own etcd server and peer
# certificates, the shared healthcheck client, and its host identity; nothing
# else. "{{identity.entity.metadata.host}}" is the host name hak-pki stored on
# the host's identity entity, so etcd1 reaches only the roles named for etcd1.
# Where the server is OpenBao >= 2.3, per-host roles with IP SANs are CEL
# roles (cel/sign), which pin the IP addresses too; elsewhere the classic
# sign path of the same name is used. Only one of the two roles exists.
# The sign paths take a CSR: private keys never leave the host. `issue`,
# `sign-verbatim` and `root/*` are not granted. Each sign path takes only the
# parameters the agent sends (csr, common_name, format, exclude_cn_from_sans,
# uri_sans — a shared profile's holder URI, which the role's template pins to
# the host's own — and ttl): not_after, not_before, alt_names, ip_sans,
# other_sans, user_ids, serial_number, issuer_ref and the rest are refused by the ACL,
# before any role sees them, on HashiCorp Vault as on OpenBao.

path "pki-etcd/sign/etcd-server.{{identity.entity.metadata.host}}" {
  capabilities = ["update"]
  allowed_parameters = {
    "csr" = []
    "common_name" = []
    "format" = ["pem"]
    "exclude_cn_from_sans" = [true]
    "uri_sans" = []
    "ttl" = []
  }
}

path "pki-etcd/cel/sign/etcd-server.{{identity.entity.metadata.host}}" {
  capabilities = ["update"]
  allowed_parameters = {
    "csr" = []
    "common_name" = []
    "format" = ["pem"]
    "exclude_cn_from_sans" = [true]
    "uri_sans" = []
    "ttl" = []
  }
}

path "pki-etcd/sign/etcd-peer.{{identity.entity.metadata.host}}" {
  capabilities = ["update"]
  allowed_parameters = {
    "csr" = []
    "common_name" = []
    "format" = ["pem"]
    "exclude_cn_from_sans" = [true]
    "uri_sans" = []
    "ttl" = []
  }
}

path "pki-etcd/cel/sign/etcd-peer.{{identity.entity.metadata.host}}" {
  capabilities = ["update"]
  allowed_parameters = {
    "csr" = []
    "common_name" = []
    "format" = ["pem"]
    "exclude_cn_from_sans" = [true]
    "uri_sans" = []
    "ttl" = []
  }
}

path "pki-etcd/sign/etcd-healthcheck-client" {
  capabilities = ["update"]
  allowed_parameters = {
    "csr" = []
    "common_name" = []
    "format" = ["pem"]
    "exclude_cn_from_sans" = [true]
    "uri_sans" = []
    "ttl" = []
  }
}

path "pki-identity/sign/host-identity.{{identity.entity.metadata.host}}" {
  capabilities = ["update"]
  allowed_parameters = {
    "csr" = []
    "common_name" = []
    "format" = ["pem"]
    "exclude_cn_from_sans" = [true]
    "uri_sans" = []
    "ttl" = []
  }
}

path "pki-identity/cel/sign/host-identity.{{identity.entity.metadata.host}}" {
  capabilities = ["update"]
  allowed_parameters = {
    "csr" = []
    "common_name" = []
    "format" = ["pem"]
    "exclude_cn_from_sans" = [true]
    "uri_sans" = []
    "ttl" = []
  }
}
