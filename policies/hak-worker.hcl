# A worker host: its own kubelet client (system:node:<host>, O=system:nodes)
# and kubelet serving certificates, the shared kube-proxy and coredns client
# identities, and its host identity. Per-host paths are templated on the
# host's identity entity (see hak-etcd.hcl): a worker cannot name another
# node, and no path here reaches admin, super-admin or any etcd role.

path "pki-kubernetes/sign/kubelet.{{identity.entity.metadata.host}}" {
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

path "pki-kubernetes/sign/kubelet-serving.{{identity.entity.metadata.host}}" {
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

path "pki-kubernetes/cel/sign/kubelet-serving.{{identity.entity.metadata.host}}" {
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

path "pki-kubernetes/sign/kube-proxy" {
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

path "pki-kubernetes/sign/coredns" {
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
