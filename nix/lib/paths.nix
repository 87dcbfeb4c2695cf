# Where hak-agent keeps what it maintains on a host, and where the NixOS
# modules point the services. `hak-deploy enroll` and `hak-deploy check` use
# the same paths (see their flag defaults).
rec {
  stateDir = "/var/lib/hak-agent";
  secretIdFile = "${stateDir}/secret-id";
  certDir = "${stateDir}/certs";
  kubeconfigDir = "${stateDir}/kubeconfigs";
  agentListenAddress = "127.0.0.1:9180";

  certFile = profile: "${certDir}/${profile}.crt";
  keyFile = profile: "${certDir}/${profile}.key";

  # One bundle per trust domain: kubernetes, etcd, front-proxy, identity.
  caFile = ca: "${certDir}/${ca}-ca.crt";

  kubeconfigFile = profile: "${kubeconfigDir}/${profile}.conf";

  # The service-account key pair (KV hak-kv/service-account, fields key/pub).
  serviceAccountKeyFile = "${certDir}/sa.key";
  serviceAccountPubFile = "${certDir}/sa.pub";
}
