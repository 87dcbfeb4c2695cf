import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { loadInventory } from "../../src/common/inventory.js";
import { runCli } from "./helpers/cli.js";
import { lineDiff } from "../../src/deploy/textdiff.js";

const dir = mkdtempSync(join(tmpdir(), "hak-hive-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const demo = join(process.cwd(), "examples", "demo-cluster.yaml");

const run = runCli;

describe("hak-deploy hive", () => {
  it("writes the zod-normalised inventory the flake reads, in host order, 0644, and says to git add it", async () => {
    const r = await run(["hive", "-i", demo, "--dir", dir]);
    expect(r.code).toBe(0);
    expect(r.out).toContain("hive/inventory.json: written");
    expect(r.out).toContain("git add hive/");
    const file = join(dir, "hive", "inventory.json");
    const text = readFileSync(file, "utf8");
    expect(text).toBe(`${JSON.stringify(loadInventory(demo), null, 2)}\n`);
    const parsed = JSON.parse(text) as { leafTtl: number; clusterDomain: string; hosts: { name: string }[]; vault?: unknown; plan?: unknown };
    expect(parsed.leafTtl).toBe(720 * 3600);
    expect(parsed.clusterDomain).toBe("cluster.local");
    // Optional keys the file leaves out stay out.
    expect("plan" in parsed).toBe(false);
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
    const r = await run(["hive", "-i", bad, "--dir", dir]);
    expect(r.code).toBe(2);
    expect(r.err).toContain("apiVip: not an IPv4/IPv6 address");
  });
});

describe("bad usage exits 2 before anything connects", () => {
  it.each([
    [["enroll", "-i", demo, "etcd9"], /HOST: not in the inventory: etcd9\n  fix: hosts are: etcd1, etcd2/],
    [["enroll", "-i", demo, "--parallel", "0", "--ssh-key", demo], /--parallel: not a number from 1 to 256: "0"/],
    [["check", "-i", demo, "--ssh-port", "x", "--ssh-key", demo], /--ssh-port: not a port: "x"/],
    [["enroll", "-i", demo, "--ssh-key", demo, "--secret-id-path", "relative"], /--secret-id-path: not an absolute file path/],
    [["apply", "-i", demo, "--ssh-key", demo, "--secret-id-ttl", "5s"], /--secret-id-ttl: not a duration of at least 1m/],
  ])("%j", async (argv, message) => {
    const r = await run(argv);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(message);
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
