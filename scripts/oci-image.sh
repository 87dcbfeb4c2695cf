#!/usr/bin/env bash
# Assembles a one-layer image tarball from a folder, without docker or a
# registry: OCI image layout (oci-layout, index.json, blobs/sha256/...) plus
# the docker-archive manifest.json, so `ctr images import` and `docker load`
# both take it. The layer is an uncompressed tar, so its digest is also the
# config's diff_id. Reproducible: sorted names, mtime 0, owner root.
#
#   oci-image.sh OUT.tar REF ROOTFS_DIR ENTRYPOINT_JSON CMD_JSON
#   e.g. oci-image.sh pause.tar hak.local/pause:3.10.1 rootfs '["/pause"]' 'null'
set -euo pipefail

if [ "$#" -ne 5 ]; then
  echo "usage: oci-image.sh OUT.tar REF ROOTFS_DIR ENTRYPOINT_JSON CMD_JSON" >&2
  exit 2
fi
out="$1" ref="$2" rootfs="$3" entrypoint="$4" cmd="$5"
case "$ref" in
  */*:*) ;;
  *) echo "oci-image.sh: REF must be name:tag with a registry part, got '$ref'" >&2; exit 2 ;;
esac
[ -d "$rootfs" ] || { echo "oci-image.sh: ROOTFS_DIR '$rootfs' is not a folder" >&2; exit 2; }
tag="${ref##*:}"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/blobs/sha256"

blob() { # FILE -> moves it into blobs/, prints its hex digest
  local hex
  hex="$(sha256sum "$1" | cut -d' ' -f1)"
  mv "$1" "$work/blobs/sha256/$hex"
  echo "$hex"
}
size() { stat -c %s "$work/blobs/sha256/$1"; }

tar --create --file "$work/layer.tar" --directory "$rootfs" \
  --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner --format=posix \
  --pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime .
layer="$(blob "$work/layer.tar")"

printf '{"architecture":"amd64","os":"linux","created":"1970-01-01T00:00:00Z","config":{"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],"Entrypoint":%s,"Cmd":%s,"WorkingDir":"/"},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]},"history":[{"created":"1970-01-01T00:00:00Z","created_by":"scripts/oci-image.sh"}]}' \
  "$entrypoint" "$cmd" "$layer" > "$work/config.json"
config="$(blob "$work/config.json")"

printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%s},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"sha256:%s","size":%s}]}' \
  "$config" "$(size "$config")" "$layer" "$(size "$layer")" > "$work/manifest.oci.json"
manifest="$(blob "$work/manifest.oci.json")"

printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s,"platform":{"architecture":"amd64","os":"linux"},"annotations":{"io.containerd.image.name":"%s","org.opencontainers.image.ref.name":"%s"}}]}' \
  "$manifest" "$(size "$manifest")" "$ref" "$tag" > "$work/index.json"
printf '{"imageLayoutVersion":"1.0.0"}' > "$work/oci-layout"
printf '[{"Config":"blobs/sha256/%s","RepoTags":["%s"],"Layers":["blobs/sha256/%s"]}]' \
  "$config" "$ref" "$layer" > "$work/manifest.json"

mkdir -p "$(dirname "$out")"
tar --create --file "$out.tmp" --directory "$work" \
  --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner \
  oci-layout index.json manifest.json blobs
mv "$out.tmp" "$out"
