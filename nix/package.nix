# The hak package (hak-pki, hak-agent, hak-deploy), built from the committed
# package-lock.json with no hash to maintain (docs/nix.md, "The package"):
#
# - every package of the lock is one fixed-output derivation whose hash is
#   the lock's own sha512 `integrity`, fetched by `npm pack NAME@VERSION`:
#   npm asks the registry it is configured for (its built-in default, or
#   NPM_CONFIG_REGISTRY passed through to the fetch), so the repository names
#   no registry and the lock needs no `resolved` address;
# - the lock is read at evaluation time from the source tree (a plain file,
#   not a build output: no import-from-derivation);
# - the deps are handed to buildNpmPackage the way importNpmLock does: a
#   package.json and package-lock.json whose entries point at those tarballs
#   (file:/nix/store/...), installed offline by importNpmLock's config hook.
{
  lib,
  buildNpmPackage,
  importNpmLock,
  nodejs_22,
  cacert,
  runCommand,
  stdenvNoCC,
}:
let
  root = ../.;
  packageJson = lib.importJSON (root + "/package.json");
  lock = lib.importJSON (root + "/package-lock.json");
  entries = (import ./lib/npm-lock.nix).entries lock;

  tarball =
    e:
    stdenvNoCC.mkDerivation {
      name = "npm-${lib.strings.sanitizeDerivationName (lib.replaceStrings [ "@" "/" ] [ "" "-" ] e.name)}-${e.version}.tgz";
      nativeBuildInputs = [ nodejs_22 ];
      outputHashMode = "flat";
      outputHash = e.integrity;
      # A mirror, proxy or private registry of the user's, passed through.
      impureEnvVars = lib.fetchers.proxyImpureEnvVars ++ [ "NPM_CONFIG_REGISTRY" ];
      SSL_CERT_FILE = "${cacert}/etc/ssl/certs/ca-bundle.crt";
      NODE_EXTRA_CA_CERTS = "${cacert}/etc/ssl/certs/ca-bundle.crt";
      buildCommand = ''
        export HOME="$TMPDIR" npm_config_cache="$TMPDIR/cache"
        mkdir "$TMPDIR/pack" && cd "$TMPDIR/pack"
        npm pack --ignore-scripts --loglevel=error ${lib.escapeShellArg "${e.name}@${e.version}"}
        mv ./*.tgz "$out"
      '';
    };

  sources = builtins.listToAttrs (
    map (e: {
      name = e.path;
      value = "file:${tarball e}";
    }) entries
  );

  lock' = lock // {
    packages = lib.mapAttrs (
      path: p: if path == "" then p else p // { resolved = sources.${path}; }
    ) lock.packages;
  };
  packageJson' =
    let
      pin = lib.mapAttrs (name: _: sources."node_modules/${name}");
    in
    packageJson
    // lib.optionalAttrs (packageJson ? dependencies) { dependencies = pin packageJson.dependencies; }
    // lib.optionalAttrs (packageJson ? devDependencies) {
      devDependencies = pin packageJson.devDependencies;
    };

  npmDeps =
    runCommand "hak-${packageJson.version}-npm-deps"
      {
        passAsFile = [
          "package"
          "packageLock"
        ];
        package = builtins.toJSON packageJson';
        packageLock = builtins.toJSON lock';
      }
      ''
        mkdir $out
        cp "$packagePath" $out/package.json
        cp "$packageLockPath" $out/package-lock.json
      '';
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
      (root + "/policies")
      (root + "/vault-dev.hcl")
    ];
  };

  inherit npmDeps;
  npmConfigHook = importNpmLock.npmConfigHook;

  # ssh2 and cpu-features only try to build optional native speed-ups; both
  # work without them, and the sandbox has no compiler toolchain for node-gyp.
  npmRebuildFlags = [ "--ignore-scripts" ];

  npmBuildScript = "build";

  passthru = { inherit npmDeps; };

  meta = {
    description = "PKI and secrets for highly-available Kubernetes on NixOS, issued by Vault/OpenBao";
    license = lib.licenses.asl20;
    mainProgram = "hak-agent";
    platforms = lib.platforms.linux;
  };
}
