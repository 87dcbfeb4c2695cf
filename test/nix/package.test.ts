import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PROJECT_ROOT } from "../../src/common/paths.js";
import { evalNixJson, NIX_DIR, nixInstantiate, nixPath, nixSandbox, nixString, type NixSandbox } from "./nix.js";

/**
 * What `nix build .#hak` needs of package-lock.json (nix/package.nix,
 * docs/nix.md "The package"): every package is fetched by name and version
 * as a fixed-output derivation whose hash is the lock's sha512 integrity, so
 * every entry must carry a registry version and a sha512 integrity, and the
 * lock carries no download address (`resolved`, the repository's rule). The
 * lock is read by nix/lib/npm-lock.nix at evaluation time; here Debian's
 * nix-instantiate evaluates that same file on the committed lock (pure, no
 * nixpkgs), and on broken locks, which it must refuse naming the entry.
 */

type Lock = { lockfileVersion: number; packages: Record<string, Record<string, unknown>> };
const lockText = readFileSync(join(PROJECT_ROOT, "package-lock.json"), "utf8");
const lock = JSON.parse(lockText) as Lock;

interface Entry {
  path: string;
  name: string;
  version: string;
  integrity: string;
}

function entriesExpr(lockJson: string): string {
  return `(import ${nixPath(join(NIX_DIR, "lib", "npm-lock.nix"))}).entries (builtins.fromJSON ${nixString(lockJson)})`;
}

describe("package-lock.json keeps what the Nix package build needs", () => {
  let sb: NixSandbox;
  beforeAll(() => {
    nixInstantiate();
    sb = nixSandbox();
  });
  afterAll(() => sb?.cleanup());

  const packages = Object.entries(lock.packages).filter(([path]) => path !== "");

  it("is lockfile v3 with packages", () => {
    expect(lock.lockfileVersion).toBeGreaterThanOrEqual(2);
    expect(packages.length).toBeGreaterThan(50);
  });

  it("names no download address: no entry has `resolved`", () => {
    expect(packages.filter(([, p]) => "resolved" in p).map(([path]) => path)).toEqual([]);
    expect(lockText).not.toMatch(/"resolved"\s*:/);
  });

  it("gives every package a registry version and a sha512 integrity, and no link", () => {
    const bad = packages.filter(
      ([, p]) =>
        typeof p.version !== "string" ||
        !/^\d+\.\d+\.\d+([-+][0-9A-Za-z.+-]*)?$/.test(p.version) ||
        typeof p.integrity !== "string" ||
        !/^sha512-[A-Za-z0-9+/]+=*$/.test(p.integrity) ||
        p.link === true,
    );
    expect(bad.map(([path]) => path)).toEqual([]);
  });

  it("is read by nix/lib/npm-lock.nix (pure evaluation) into one fetch per package, by name, version and integrity", () => {
    const entries = evalNixJson(sb, entriesExpr(lockText)) as Entry[];
    expect(entries).toHaveLength(packages.length);
    for (const e of entries) {
      const p = lock.packages[e.path]!;
      expect(e.version).toBe(p.version);
      expect(e.integrity).toBe(p.integrity);
      // The name the registry knows: the last node_modules/ segment, scope included.
      expect(e.path.endsWith(`node_modules/${e.name}`), e.path).toBe(true);
    }
    expect(entries.find((e) => e.path === "node_modules/@peculiar/x509")?.name).toBe("@peculiar/x509");
  });

  it.each([
    ["no integrity", (l: Lock) => delete l.packages["node_modules/zod"]!.integrity, /packages."node_modules\/zod": no sha512 integrity/],
    ["a sha1 integrity", (l: Lock) => (l.packages["node_modules/zod"]!.integrity = "sha1-abc="), /packages."node_modules\/zod": no sha512 integrity/],
    ["a git dependency", (l: Lock) => (l.packages["node_modules/zod"]!.version = "git+ssh://example/zod.git#abc"), /is not a registry version/],
    ["a workspace link", (l: Lock) => (l.packages["node_modules/zod"]!.link = true), /a link \(workspace or local folder\)/],
    ["lockfile v1", (l: Lock) => (l.lockfileVersion = 1), /lockfileVersion 1; the package build reads lockfile v2 or v3/],
  ])("refuses a lock with %s, naming the entry", (_name, breakIt, message) => {
    const broken = JSON.parse(lockText) as Lock;
    breakIt(broken);
    expect(() => evalNixJson(sb, `builtins.deepSeq (${entriesExpr(JSON.stringify(broken))}) true`)).toThrow(message);
  });
});
