# The hak package (hak-pki, hak-agent, hak-deploy), built from the committed
# package-lock.json.
{
  lib,
  buildNpmPackage,
  nodejs_22,
}:
let
  root = ../.;
  packageJson = builtins.fromJSON (builtins.readFile (root + "/package.json"));
in
buildNpmPackage {
  pname = "hak";
  inherit (packageJson) version;
  nodejs = nodejs_22;

  src = lib.fileset.toSource {
    inherit root;
    fileset = lib.fileset.unions [
      (root + "/package.json")
      (root + "/package-lock.json")
      (root + "/tsconfig.json")
      (root + "/tsconfig.build.json")
      (root + "/src")
      (root + "/bin")
      (root + "/scripts/bundle-agent.mjs")
      (root + "/policies")
      (root + "/vault-dev.hcl")
    ];
  };

  # The hash of the npm dependencies fetched from package-lock.json (a
  # fixed-output derivation). It can only be computed by nixpkgs' fetcher,
  # which this repository's CI does not have; after any change to
  # package-lock.json, build once and copy the hash Nix prints:
  #   nix build .#hak   # fails with "hash mismatch ... got: sha256-..."
  # or: nix run nixpkgs#prefetch-npm-deps -- package-lock.json
  npmDepsHash = lib.fakeHash;

  # ssh2 and cpu-features only try to build optional native speed-ups; both
  # work without them, and the sandbox has no compiler toolchain for node-gyp.
  npmRebuildFlags = [ "--ignore-scripts" ];

  npmBuildScript = "build";

  meta = {
    description = "PKI and secrets for highly-available Kubernetes on NixOS, issued by Vault/OpenBao";
    license = lib.licenses.asl20;
    mainProgram = "hak-agent";
    platforms = lib.platforms.linux;
  };
}
