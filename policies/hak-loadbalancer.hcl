# A load-balancer host: haproxy passes TLS through, so it needs no cluster
# certificate; only its host identity, for its agent's own Vault logins.

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
