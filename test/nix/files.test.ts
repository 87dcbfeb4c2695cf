import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PROJECT_ROOT } from "../../src/common/paths.js";
import { nixfmtBinary, nixInstantiate, nixSandbox, parseNixFile, repoNixFiles, type NixSandbox } from "./nix.js";

/**
 * Every .nix file of the repository parses with Debian's nix-instantiate, and
 * is formatted as nixfmt (RFC 166) formats it. nixfmt is not packaged for
 * Debian and is not built here; where it is on PATH (`nix develop` has it)
 * the format check runs, elsewhere it is skipped and says so (the parse
 * check always runs).
 */

describe("the repository's Nix files", () => {
  let sb: NixSandbox;
  beforeAll(() => {
    nixInstantiate();
    sb = nixSandbox();
  });
  afterAll(() => sb?.cleanup());

  const files = repoNixFiles();

  it("include the flake, the library, every module, the hive, the package and the local evaluation's stand-ins", () => {
    for (const f of [
      "flake.nix",
      "nix/package.nix",
      "nix/hive.nix",
      "nix/lib/default.nix",
      "nix/lib/npm-lock.nix",
      "nix/lib/sandbox.nix",
      "nix/modules/plan.nix",
      "nix/modules/hak-agent.nix",
      "nix/modules/vault.nix",
      "test/nix/stub-nixos.nix",
      "test/nix/eval-hive.nix",
    ])
      expect(files).toContain(f);
  });

  it("hold no inventory derivation of their own (the plan is the one source)", () => {
    for (const gone of ["nix/lib/profiles.nix", "nix/lib/ip.nix", "nix/lib/topology.nix", "nix/lib/outputs.nix", "nix/lib/agent-config.nix"])
      expect(files).not.toContain(gone);
  });

  it("all parse with nix-instantiate --parse", () => {
    const failures = files.map((f) => [f, parseNixFile(sb, join(PROJECT_ROOT, f))]).filter(([, err]) => err !== undefined);
    expect(failures).toEqual([]);
  });

  it("a file that does not parse is reported (the check can fail)", async () => {
    const { writeFileSync } = await import("node:fs");
    const bad = join(sb.dir, "bad.nix");
    writeFileSync(bad, "{ a = 1; b = ; }\n");
    expect(parseNixFile(sb, bad)).toMatch(/syntax error/);
  });

  const nixfmt = nixfmtBinary();
  it.skipIf(!nixfmt)("all are formatted with nixfmt (RFC 166 style)", () => {
    const res = spawnSync(nixfmt!, ["--check", ...files], { cwd: PROJECT_ROOT, encoding: "utf8" });
    expect(res.stderr + res.stdout).toBe("");
    expect(res.status).toBe(0);
  });
});
