#!/usr/bin/env bash
# Builds nixfmt (the official Nix formatter, RFC 166) from a source checkout
# with Debian's GHC, for machines without Nix packages: Debian ships no
# nixfmt. test/nix/files.test.ts checks formatting whenever nixfmt is on PATH.
#
#   scripts/build-nixfmt.sh NIXFMT_SOURCE_DIR [INSTALL_DIR=/usr/local/bin]
#
# The source is github.com/NixOS/nixfmt (tested with v1.4.0 / main of
# 2026-11). Debian 12's GHC is 9.0; nixfmt targets newer ones, so the build
# adds -XTypeFamilies (for `~` in constraints) and imports asum from
# Data.Foldable, in a copy of the source. Needs root for apt-get.
set -euo pipefail
src="${1:?usage: scripts/build-nixfmt.sh NIXFMT_SOURCE_DIR [INSTALL_DIR]}"
dest="${2:-/usr/local/bin}"
[ -f "$src/nixfmt.cabal" ] || { echo "$src has no nixfmt.cabal" >&2; exit 2; }

DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
  ghc libghc-megaparsec-dev libghc-cmdargs-dev libghc-safe-exceptions-dev \
  libghc-file-embed-dev libghc-scientific-dev libghc-parser-combinators-dev \
  libghc-pretty-simple-dev >/dev/null

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cp -r "$src/src" "$src/main" "$src/nixfmt.cabal" "$work/"
cd "$work"
sed -i 's/^import Control.Applicative (asum, empty, (<|>))$/import Control.Applicative (empty, (<|>))\nimport Data.Foldable (asum)/' src/Nixfmt/Predoc.hs
version="$(sed -n 's/^version:[[:space:]]*//p' nixfmt.cabal)"
mkdir -p gen
cat > gen/Paths_nixfmt.hs <<HS
module Paths_nixfmt (version) where
import Data.Version (Version, makeVersion)
version :: Version
version = makeVersion [$(echo "$version" | tr . ,)]
HS
ghc -O1 --make -XPackageImports -XTypeFamilies -isrc -imain -igen -outputdir build -o nixfmt main/Main.hs >/dev/null
install -m 0755 nixfmt "$dest/nixfmt"
"$dest/nixfmt" --version
