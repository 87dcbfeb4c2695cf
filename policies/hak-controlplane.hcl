# A control-plane host: its own apiserver serving certificate, the shared
# client identities of the control plane (kubelet client, etcd client,
# front-proxy client, controller-manager, scheduler), the service-account key
# pair, and its host identity. It is a node too (kubelet, kube-proxy, tainted
# NoSchedule, as kubeadm makes it): its own kubelet client and serving
# certificates and the shared kube-proxy identity, as on a worker. Per-host paths are templated on the host's
# identity entity (see hak-etcd.hcl).

path "pki-kubernetes/sign/apiserver.{{identity.entity.metadata.host}}" {
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

path "pki-kubernetes/cel/sign/apiserver.{{identity.entity.metadata.host}}" {
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

path "pki-kubernetes/sign/apiserver-kubelet-client" {
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

path "pki-etcd/sign/apiserver-etcd-client" {
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

path "pki-front-proxy/sign/front-proxy-client" {
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

path "pki-kubernetes/sign/controller-manager" {
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

path "pki-kubernetes/sign/scheduler" {
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

# The service-account signing key pair (apiserver and controller-manager).
path "hak-kv/data/service-account" {
  capabilities = ["read"]
}
