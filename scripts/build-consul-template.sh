#!/usr/bin/env bash
# Builds consul-template (pinned in build/consul-template/go.mod) with go build
# from the Go module proxy into ${HAK_CACHE:-$HOME/.cache/hak}/consul-template-<ver>/,
# for `npm run bench:agent`. Optional: setup.sh calls it only with
# HAK_BUILD_CONSUL_TEMPLATE=1, and the benchmark skips consul-template when it
# is not built. Safe to run again: an existing binary of the pinned version is kept.
# About 3 minutes on 2 idle cores with an empty module cache.
set -euo pipefail
cd "$(dirname "$0")/../build/consul-template"
ver=$(awk '$1 == "require" && $2 == "github.com/hashicorp/consul-template" { print $3 }' go.mod)
out="${HAK_CACHE:-$HOME/.cache/hak}/consul-template-${ver}"
if [ -x "$out/consul-template" ]; then
  echo "$out/consul-template"
  exit 0
fi
command -v go >/dev/null 2>&1 || { echo "go is not installed: consul-template cannot be built" >&2; exit 1; }
mkdir -p "$out"
go build -trimpath -ldflags "-s -w" -o "$out/consul-template.tmp" github.com/hashicorp/consul-template
mv "$out/consul-template.tmp" "$out/consul-template"
echo "$out/consul-template"
