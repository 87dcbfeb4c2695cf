import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { loadInventory } from "../../src/common/inventory.js";
import { main } from "../../src/deploy/cli.js";
import { lineDiff } from "../../src/deploy/textdiff.js";

const dir = mkdtempSync(join(tmpdir(), "hak-hive-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const demo = join(process.cwd(), "examples", "demo-cluster.yaml");

async function run(argv: string[]): Promise<{ code: number; out: string }> {
  const out: string[] = [];
  const write = process.stdout.write.bind(process.stdout);
  process.stdout.write = ((s: string) => (out.push(String(s)), true)) as typeof process.stdout.write;
  try {
    return { code: await main(argv), out: out.join("") };
  } finally {
    process.stdout.write = write;
  }
}

describe("hak-deploy hive", () => {
  it("writes the zod-normalised inventory the flake reads, in host order, 0644, and says to git add it", async () => {
    const r = await run(["hive", "-i", demo, "--dir", dir]);
    expect(r.code).toBe(0);
    expect(r.out).toContain("hive/inventory.json: written");
    expect(r.out).toContain("git add hive/");
    const file = join(dir, "hive", "inventory.json");
    const text = readFileSync(file, "utf8");
    expect(text).toBe(`${JSON.stringify(loadInventory(demo), null, 2)}\n`);
    const parsed = JSON.parse(text) as { leafTtl: number; clusterDomain: string; hosts: { name: string }[]; vault?: unknown };
    expect(parsed.leafTtl).toBe(720 * 3600);
    expect(parsed.clusterDomain).toBe("cluster.local");
    expect("vault" in parsed).toBe(false);
    expect(parsed.hosts.map((h) => h.name).slice(0, 3)).toEqual(["etcd1", "etcd2", "etcd3"]);
    expect(statSync(file).mode & 0o777).toBe(0o644);
    expect((await run(["hive", "-i", demo, "--dir", dir])).out).toContain("already current");
  });

  it("--check passes when current and fails with a diff naming the changed line when not", async () => {
    expect(await run(["hive", "-i", demo, "--dir", dir, "--check"])).toMatchObject({ code: 0 });
    const file = join(dir, "hive", "inventory.json");
    const before = readFileSync(file, "utf8");
    writeFileSync(file, before.replace('"apiPort": 6443', '"apiPort": 7443'));
    const r = await run(["hive", "-i", demo, "--dir", dir, "--check"]);
    expect(r.code).toBe(1);
    expect(r.out).toContain("not current");
    expect(r.out).toContain('-   "apiPort": 7443,');
    expect(r.out).toContain('+   "apiPort": 6443,');
    // --check changed nothing.
    expect(readFileSync(file, "utf8")).not.toBe(before);
    rmSync(file);
    expect((await run(["hive", "-i", demo, "--dir", dir, "--check"])).code).toBe(1);
  });

  it("bad input exits 2 naming the field", async () => {
    const bad = join(dir, "bad.yaml");
    writeFileSync(bad, readFileSync(demo, "utf8").replace("apiVip: 10.240.0.10", "apiVip: 10.240.0.300"));
    const err: string[] = [];
    const write = process.stderr.write.bind(process.stderr);
    process.stderr.write = ((s: string) => (err.push(String(s)), true)) as typeof process.stderr.write;
    try {
      expect(await main(["hive", "-i", bad, "--dir", dir])).toBe(2);
    } finally {
      process.stderr.write = write;
    }
    expect(err.join("")).toContain("apiVip: not an IPv4/IPv6 address");
  });
});

describe("lineDiff", () => {
  it.each([
    ["a\nb\nc", "a\nB\nc", ["  a", "- b", "+ B", "  c"]],
    ["a", "a\nb", ["  a", "+ b"]],
    ["x\ny", "", ["- x", "- y", "+ "]],
  ])("%j -> %j", (a, b, want) => {
    expect(lineDiff(a, b).split("\n")).toEqual(want);
  });

  it("elides long unchanged runs", () => {
    const a = Array.from({ length: 20 }, (_, i) => `l${i}`).join("\n");
    const b = a.replace("l10", "L10");
    expect(lineDiff(a, b, 1).split("\n")).toEqual(["  ...", "  l9", "- l10", "+ L10", "  l11", "  ..."]);
  });
});
