# What nix/package.nix fetches, read from package-lock.json (lockfile v2/v3)
# at evaluation time: one entry per package with its name, version and
# integrity. Pure (builtins only), so CI evaluates it on the committed lock
# with Debian's nix-instantiate (test/nix/package.test.ts), and it throws,
# naming the entry, when the lock lacks what the build needs: the lock keeps
# no download address (`resolved`) on purpose, so each tarball is fetched by
# name and version and checked against its sha512 `integrity`.
let
  where = path: "package-lock.json: packages.\"${path}\"";

  entry =
    lock: path:
    let
      p = lock.packages.${path};
      m = builtins.match ".*node_modules/((@[^/]+/)?[^/]+)" path;
      version = p.version or "";
      integrity = p.integrity or "";
    in
    if p.link or false then
      throw "${where path}: a link (workspace or local folder); the package build fetches registry packages only"
    else if m == null then
      throw "${where path}: not under node_modules/"
    else if builtins.match "[0-9]+\\.[0-9]+\\.[0-9]+([-+][0-9A-Za-z.+-]*)?" version == null then
      throw "${where path}: version ${builtins.toJSON version} is not a registry version (git, file and URL dependencies cannot be fetched by name)"
    else if builtins.match "sha512-[A-Za-z0-9+/]+=*" integrity == null then
      throw "${where path}: no sha512 integrity; the build fetches each tarball by name and version and needs its hash (run `npm install` to record it)"
    else
      {
        inherit path version integrity;
        # An alias (npm:other@1.0.0) records the real name.
        name = p.name or (builtins.head m);
      };
in
{
  entries =
    lock:
    if (lock.lockfileVersion or 1) < 2 || !(lock ? packages) then
      throw "package-lock.json: lockfileVersion ${toString (lock.lockfileVersion or 1)}; the package build reads lockfile v2 or v3 (`packages`)"
    else
      map (entry lock) (builtins.filter (p: p != "") (builtins.attrNames lock.packages));
}
