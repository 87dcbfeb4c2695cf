# The local OpenBao/Vault server for the demo and the tests: one node, real
# storage (integrated raft), TLS on loopback. `scripts/bao-local start`
# makes the TLS certificate, initialises on first start (one key share,
# kept with the root token under .state/bao, mode 0600) and unseals on
# every start. Paths are relative to the repository root; the tests run
# copies with their own folder and ports.

ui            = true
disable_mlock = true
api_addr      = "https://127.0.0.1:8200"
cluster_addr  = "https://127.0.0.1:8201"
log_level     = "warn"

storage "raft" {
  path    = ".state/bao/data"
  node_id = "local-1"
}

listener "tcp" {
  address         = "127.0.0.1:8200"
  cluster_address = "127.0.0.1:8201"
  tls_cert_file   = ".state/bao/tls/server.crt"
  tls_key_file    = ".state/bao/tls/server.key"
  tls_min_version = "tls12"
}

# Every request and response, HMAC'd, one JSON object per line. OpenBao
# (since CVE-2025-54997) creates audit devices only from the config file;
# `hak-pki bootstrap --audit-file` checks that this device is there.
audit "file" "hak-file" {
  description = "hak: every request, for auditing issuance"
  options {
    file_path = ".state/bao/audit.log"
    mode      = "0600"
  }
}
