# Small list and string helpers on builtins alone: nix/lib is evaluated in CI
# by Debian's nix-instantiate, where nixpkgs' lib is not available.
rec {
  # Keeps the first occurrence of each element, in order (as JavaScript's
  # `[...new Set(xs)]`, which the TypeScript side uses).
  unique = builtins.foldl' (acc: x: if builtins.elem x acc then acc else acc ++ [ x ]) [ ];

  optional = cond: x: if cond then [ x ] else [ ];

  # [ a b c ] -> [ { index = 0; value = a; } ... ]
  enumerate =
    xs:
    builtins.genList (i: {
      index = i;
      value = builtins.elemAt xs i;
    }) (builtins.length xs);

  listToAttrsBy =
    key: xs:
    builtins.listToAttrs (
      map (x: {
        name = x.${key};
        value = x;
      }) xs
    );

  # "abc" -> [ "a" "b" "c" ]
  chars = s: builtins.genList (i: builtins.substring i 1 s) (builtins.stringLength s);

  max = a: b: if a > b then a else b;

  # "a:b::c" split on ":" without the separators builtins.split leaves in.
  splitOn = sep: s: builtins.filter builtins.isString (builtins.split sep s);
}
