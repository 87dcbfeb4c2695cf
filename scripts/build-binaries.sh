#!/usr/bin/env bash
# Builds the binaries and images the local cluster and the cluster tests run,
# caches them outside the clone keyed by version, and links the current ones
# into .tools/ (gitignored), where src/common/binaries.ts finds them:
#
#   .tools/bin/<name>        kube-apiserver kube-controller-manager kube-scheduler
#                            kubelet kube-proxy kubectl kubeadm etcd etcdctl coredns
#                            containerd containerd-shim-runc-v2 ctr runc pause
#   .tools/cni/bin/<name>    bridge host-local loopback portmap
#   .tools/images/<file>     pause.tar busybox.tar (names in build/images.json)
#
# Cache: ${HAK_CACHE:-$HOME/.cache/hak}/<component>-<version>/; a component
# counts as built once its .done stamp is there (written last), so a build
# that was interrupted is redone, never half used. Versions come from the
# go.mod files under build/ (and the pause Makefile of the Kubernetes module).
#
#   build-binaries.sh              build what is missing, link .tools/
#   build-binaries.sh --check      list every binary and its version; exit 1 if one is missing
#   build-binaries.sh --only C...  build and link only these components
#                                  (kubernetes etcd coredns cni containerd pause images runc)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
CACHE="${HAK_CACHE:-$HOME/.cache/hak}"
TOOLS="$ROOT/.tools"

# Same flags as every other build of these modules on the machine, so the Go
# build cache is shared: static (no cgo), no paths of this machine inside.
export CGO_ENABLED=0
export GOFLAGS="${GOFLAGS:--buildvcs=false}"
GOBUILD=(go build -trimpath)

K8S_CMDS=(kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy kubectl kubeadm)
CNI_PLUGINS=(bridge host-local loopback portmap)
ALL_COMPONENTS=(kubernetes etcd coredns cni containerd runc pause images)

modversion() { # DIR MODULE -> the version DIR's go.mod selects for MODULE
  (cd "$ROOT/build/$1" && go list -m -f '{{.Version}}' "$2")
}
now() { date +%s; }
say() { printf '%s\n' "$*" >&2; }

# cached_or_build NAME VERSION BUILD_FN [HINT]: unless NAME-VERSION is in the
# cache, runs BUILD_FN OUT VERSION, which writes the binaries into OUT (a temp
# folder inside the component's cache folder), then moves them into bin/.
# Under a lock, so two setups at once do not build the same thing twice.
# Sets COMPONENT_DIR to the bin/ folder.
cached_or_build() {
  local name="$1" version="$2" fn="$3" hint="${4:-}"
  local dir="$CACHE/$name-$version"
  mkdir -p "$dir"
  exec 9>"$dir/.lock"
  flock 9
  if [ -f "$dir/.done" ]; then
    say "  $name $version: cached ($dir)"
  else
    local t0 out
    t0="$(now)"
    say "  $name $version: building${hint:+ ($hint)} ..."
    out="$dir/.tmp"
    rm -rf "$out"
    mkdir -p "$out"
    "$fn" "$out" "$version"
    mkdir -p "$dir/bin"
    # Move file by file: a reader of bin/ sees a whole binary or the old one.
    local f
    for f in "$out"/*; do mv -f "$f" "$dir/bin/"; done
    rm -rf "$out"
    date -u +%FT%TZ > "$dir/.done"
    say "  $name $version: built in $(( $(now) - t0 )) s"
  fi
  exec 9>&-
  COMPONENT_DIR="$dir/bin"
}

build_kubernetes() {
  local out="$1" v="$2" minor major ld
  major="${v#v}"; major="${major%%.*}"
  minor="${v#v*.}"; minor="${minor%%.*}"
  ld="-s -w"
  local p
  for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ld+=" -X $p.gitVersion=$v -X $p.gitMajor=$major -X $p.gitMinor=$minor -X $p.gitTreeState=clean -X $p.buildDate=2026-01-01T00:00:00Z"
  done
  local pkgs=() c
  for c in "${K8S_CMDS[@]}"; do pkgs+=("k8s.io/kubernetes/cmd/$c"); done
  (cd "$ROOT/build/kubernetes" && "${GOBUILD[@]}" -ldflags "$ld" -o "$out/" "${pkgs[@]}")
}

# A build started by hand with the same flags (as the lead's first one was)
# has no .done stamp: take it when all seven binaries are there and each
# reports the version, instead of linking all seven again.
adopt_kubernetes() {
  local v="$1" dir="$CACHE/kubernetes-$1" c
  [ -f "$dir/.done" ] && return 0
  for c in "${K8S_CMDS[@]}"; do
    [ -x "$dir/bin/$c" ] && [ "$(version_of "$c" "$dir/bin/$c")" = "$v" ] || return 0
  done
  date -u +%FT%TZ > "$dir/.done"
}

build_etcd() {
  local out="$1"
  (cd "$ROOT/build/etcd" &&
    "${GOBUILD[@]}" -ldflags "-s -w" -o "$out/etcd" go.etcd.io/etcd/server/v3 &&
    "${GOBUILD[@]}" -ldflags "-s -w" -o "$out/etcdctl" go.etcd.io/etcd/etcdctl/v3)
}

build_coredns() {
  local out="$1"
  (cd "$ROOT/build/coredns" && "${GOBUILD[@]}" -ldflags "-s -w" -o "$out/coredns" .)
}

build_cni() {
  local out="$1" v="$2" p
  local ld="-s -w -X github.com/containernetworking/plugins/pkg/utils/buildversion.BuildVersion=$v"
  local pkgs=()
  for p in ipam/host-local main/bridge main/loopback meta/portmap; do
    pkgs+=("github.com/containernetworking/plugins/plugins/$p")
  done
  (cd "$ROOT/build/cni" && "${GOBUILD[@]}" -ldflags "$ld" -o "$out/" "${pkgs[@]}")
}

build_containerd() {
  local out="$1" v="$2" m=github.com/containerd/containerd/v2
  local ld="-s -w -X $m/version.Version=$v -X $m/version.Revision=$v -X $m/version.Package=$m"
  # no_btrfs etc.: drivers that need cgo or host libraries the cluster does
  # not use (overlayfs and native are the snapshotters it uses).
  (cd "$ROOT/build/containerd" && "${GOBUILD[@]}" -tags "no_btrfs no_devmapper no_zfs" -ldflags "$ld" -o "$out/" \
    "$m/cmd/containerd" "$m/cmd/containerd-shim-runc-v2" "$m/cmd/ctr")
}

PAUSE_SRC=""
pause_source() { # the Kubernetes module's own pause sources (build/pause)
  local dir
  dir="$(cd "$ROOT/build/kubernetes" && go mod download -json k8s.io/kubernetes | sed -n 's/^\s*"Dir": "\(.*\)",$/\1/p')"
  [ -f "$dir/build/pause/linux/pause.c" ] || { say "pause.c not found in the k8s.io/kubernetes module ($dir)"; exit 1; }
  PAUSE_SRC="$dir/build/pause"
}
build_pause() {
  local out="$1" v="$2"
  # The pause Makefile's flags; static so it runs in an image with nothing else.
  gcc -Os -Wall -Werror -static -DVERSION="v$v-hak" -o "$out/pause" "$PAUSE_SRC/linux/pause.c"
}

image_ref() { node -p "require('$ROOT/build/images.json').$1.ref"; }
image_file() { node -p "require('$ROOT/build/images.json').$1.file"; }
IMAGES_PAUSE_BIN=""
build_images() {
  local out="$1" root
  root="$(mktemp -d)"
  mkdir -p "$root/pause"
  cp "$IMAGES_PAUSE_BIN" "$root/pause/pause"
  bash "$ROOT/scripts/oci-image.sh" "$out/$(image_file pause)" "$(image_ref pause)" "$root/pause" '["/pause"]' 'null'
  # busybox: the static binary from Debian's busybox-static and a link per
  # applet, plus the few files a shell and nslookup look for.
  local bb="$root/busybox" a
  mkdir -p "$bb/bin" "$bb/etc" "$bb/tmp" "$bb/root" "$bb/www"
  cp /bin/busybox "$bb/bin/busybox"
  for a in $(/bin/busybox --list); do
    [ "$a" = busybox ] || ln -s busybox "$bb/bin/$a"
  done
  printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' > "$bb/etc/passwd"
  printf 'root:x:0:\nnobody:x:65534:\n' > "$bb/etc/group"
  chmod 1777 "$bb/tmp"
  bash "$ROOT/scripts/oci-image.sh" "$out/$(image_file busybox)" "$(image_ref busybox)" "$bb" 'null' '["sh"]'
  rm -rf "$root"
}

link_into() { # DEST_DIR SRC_DIR NAME...
  local dest="$1" src="$2"; shift 2
  mkdir -p "$dest"
  local n
  for n in "$@"; do
    [ -e "$src/$n" ] || { say "missing $src/$n after build"; exit 1; }
    ln -sfn "$src/$n" "$dest/$n"
  done
}

component() {
  case "$1" in
    kubernetes)
      adopt_kubernetes "$(modversion kubernetes k8s.io/kubernetes)"
      cached_or_build kubernetes "$(modversion kubernetes k8s.io/kubernetes)" build_kubernetes "about 6 min cold on 2 cores"
      link_into "$TOOLS/bin" "$COMPONENT_DIR" "${K8S_CMDS[@]}" ;;
    etcd)
      cached_or_build etcd "$(modversion etcd go.etcd.io/etcd/server/v3)" build_etcd
      link_into "$TOOLS/bin" "$COMPONENT_DIR" etcd etcdctl ;;
    coredns)
      # Keyed by the plugin list too: build/coredns/main.go is ours.
      cached_or_build coredns "$(modversion coredns github.com/coredns/coredns)-$(cat "$ROOT"/build/coredns/{main.go,go.sum} | sha256sum | cut -c1-8)" build_coredns "about 3 min cold"
      link_into "$TOOLS/bin" "$COMPONENT_DIR" coredns ;;
    cni)
      cached_or_build cni-plugins "$(modversion cni github.com/containernetworking/plugins)" build_cni
      link_into "$TOOLS/cni/bin" "$COMPONENT_DIR" "${CNI_PLUGINS[@]}" ;;
    containerd)
      cached_or_build containerd "$(modversion containerd github.com/containerd/containerd/v2)" build_containerd "about 4 min cold"
      link_into "$TOOLS/bin" "$COMPONENT_DIR" containerd containerd-shim-runc-v2 ctr ;;
    runc)
      # Debian's runc (scripts/setup.sh installs it): runc from source needs cgo and libseccomp.
      local r
      r="$(command -v runc || true)"
      [ -n "$r" ] || { say "runc not found: install Debian's runc (scripts/setup.sh does)"; exit 1; }
      mkdir -p "$TOOLS/bin"
      ln -sfn "$r" "$TOOLS/bin/runc" ;;
    pause)
      pause_source
      cached_or_build pause "$(sed -n 's/^TAG ?= *//p' "$PAUSE_SRC/Makefile")" build_pause
      link_into "$TOOLS/bin" "$COMPONENT_DIR" pause ;;
    images)
      [ -x "$TOOLS/bin/pause" ] || component pause
      IMAGES_PAUSE_BIN="$(readlink -f "$TOOLS/bin/pause")"
      [ -x /bin/busybox ] || { say "/bin/busybox not found: install Debian's busybox-static (scripts/setup.sh does)"; exit 1; }
      # Keyed by everything an image is made of, so a change to any rebuilds it.
      local key
      key="$(cat "$IMAGES_PAUSE_BIN" /bin/busybox "$ROOT/build/images.json" "$ROOT/scripts/oci-image.sh" | sha256sum | cut -c1-12)"
      cached_or_build images "$key" build_images
      link_into "$TOOLS/images" "$COMPONENT_DIR" "$(image_file pause)" "$(image_file busybox)" ;;
    *) say "build-binaries.sh: unknown component '$1' (known: ${ALL_COMPONENTS[*]})"; exit 2 ;;
  esac
}

# --check: every binary the cluster runs, its version, and whether it is there.
version_of() { # NAME PATH
  local n="$1" p="$2"
  case "$n" in
    kubectl) "$p" version --client 2>/dev/null | sed -n 's/^Client Version: //p' ;;
    kubeadm) "$p" version -o short 2>/dev/null ;;
    etcd) "$p" --version 2>/dev/null | sed -n 's/^etcd Version: //p' ;;
    etcdctl) "$p" version 2>/dev/null | sed -n 's/^etcdctl version: //p' ;;
    coredns) "$p" -version 2>/dev/null | head -n1 ;;
    containerd | ctr) "$p" --version 2>/dev/null | awk '{print $3}' ;;
    containerd-shim-runc-v2) "$p" -v 2>/dev/null | sed -n 's/^ *Version: *//p' ;;
    runc) "$p" --version 2>/dev/null | sed -n 's/^runc version //p' ;;
    pause) "$p" -v 2>/dev/null ;;
    bridge | host-local | loopback | portmap) "$p" 2>&1 | sed -n 's/.* plugin \(.*\)$/\1/p' | head -n1 ;;
    *) "$p" --version 2>/dev/null | awk '{print $2}' ;;
  esac
}
check() {
  local missing=0 n p v
  printf '%-25s  %-24s  %s\n' BINARY VERSION PATH
  local row
  for row in $(printf 'bin/%s\n' "${K8S_CMDS[@]}" etcd etcdctl coredns containerd containerd-shim-runc-v2 ctr runc pause) \
    $(printf 'cni/bin/%s\n' "${CNI_PLUGINS[@]}"); do
    n="${row##*/}" p="$TOOLS/$row"
    if [ -x "$p" ]; then
      v="$(version_of "$n" "$p" || true)"
      printf '%-25s  %-24s  %s\n' "$n" "${v:-?}" "$(readlink -f "$p")"
    else
      printf '%-25s  %-24s  %s\n' "$n" MISSING ".tools/$row"
      missing=1
    fi
  done
  for n in pause busybox; do
    p="$TOOLS/images/$(image_file "$n")"
    if [ -f "$p" ]; then
      printf '%-25s  %-24s  %s\n' "image $n" "$(image_ref "$n")" "$(readlink -f "$p")"
    else
      printf '%-25s  %-24s  %s\n' "image $n" MISSING ".tools/images/$(image_file "$n")"
      missing=1
    fi
  done
  if [ "$missing" = 1 ]; then
    say "some binaries are missing: run scripts/setup.sh"
    return 1
  fi
}

case "${1:-}" in
  --check) check; exit $? ;;
  --only) shift; [ "$#" -gt 0 ] || { say "--only needs at least one component (${ALL_COMPONENTS[*]})"; exit 2; }; set -- "$@" ;;
  "") set -- "${ALL_COMPONENTS[@]}" ;;
  *) say "usage: build-binaries.sh [--check | --only COMPONENT...]"; exit 2 ;;
esac
command -v go >/dev/null || { say "go not found: the Go toolchain is needed to build the cluster's binaries"; exit 1; }
t_all="$(now)"
say "cluster binaries (cache: $CACHE)"
for c in "$@"; do component "$c"; done
say "cluster binaries ready in $(( $(now) - t_all )) s"
