import { describe, expect, it } from "vitest";
import { describeDiff, differingWindow, diffFields, normalize } from "../../src/pki/diff.js";

describe("plan diffs", () => {
  it.each([
    ["720h", 2592000],
    ["1h30m", 5400],
    [null, undefined],
    [[], undefined],
    ["", undefined],
    [["b", "a"], ["a", "b"]],
  ])("normalises %j like Vault reads it back", (input, out) => {
    expect(normalize(input)).toEqual(out);
  });

  it("sees no change when Vault normalised what hak wrote", () => {
    expect(
      diffFields(
        { ttl: "720h", allowed_domains: ["b", "a"], allowed_uri_sans: [], organization: [], metadata: { host: "w1" } },
        { ttl: 2592000, allowed_domains: ["a", "b"], allowed_uri_sans: null, metadata: { host: "w1", extra: "x" }, other: 1 },
      ),
    ).toEqual([]);
  });

  it("reports each changed field with before and after", () => {
    expect(diffFields({ allow_ip_sans: false, ttl: 60 }, { allow_ip_sans: true, ttl: 60 })).toEqual([{ field: "allow_ip_sans", from: true, to: false }]);
    expect(diffFields({ metadata: { role: "worker" } }, { metadata: { role: "etcd" } })).toHaveLength(1);
    expect(diffFields({ allowed_domains: ["a"] }, {})).toHaveLength(1);
  });
});

describe("plan lines a person can read", () => {
  it("durations as durations", () => {
    expect(describeDiff({ field: "ttl", from: 300, to: "720h" })).toBe("ttl: 5m -> 30d");
    expect(describeDiff({ field: "not_before_duration", from: 30, to: 300 })).toBe("not_before_duration: 30s -> 5m");
    expect(describeDiff({ field: "token_max_ttl", from: undefined, to: 3600 })).toBe("token_max_ttl: null -> 1h");
    // Not a duration field: the number stays a number.
    expect(describeDiff({ field: "key_bits", from: 2048, to: 4096 })).toBe("key_bits: 2048 -> 4096");
  });

  it("shows the part of two long values that differs, not the same first 77 characters", () => {
    const program = (ttl: string) => ({ variables: [{ name: "allowed_dns", expression: '["etcd1", "etcd1.k8s.local", "localhost"]' }], expression: `ValidationOutput{template: CertTemplate{NotAfter: now + duration("${ttl}")}}` });
    const line = describeDiff({ field: "cel_program", from: program("300s"), to: program("2592000s") });
    const [from, to] = line.slice("cel_program: ".length).split(" -> ");
    expect(from).toContain('duration(\\"300s\\")');
    expect(to).toContain('duration(\\"2592000s\\")');
    expect(from).not.toBe(to);
    expect(line.length).toBeLessThan(200);
    expect(from!.startsWith("…")).toBe(true);
  });

  it("long lists say what was added and removed", () => {
    const names = Array.from({ length: 12 }, (_, i) => `worker${i}.k8s.local`);
    expect(describeDiff({ field: "allowed_domains", from: names, to: [...names.slice(1), "evil.example"] })).toBe(
      "allowed_domains: + evil.example, - worker0.k8s.local (12 -> 12 entries)",
    );
  });

  it.each([
    ["abcdefXYZghijkl", "abcdefQghijkl", 2, ["…efXYZgh…", "…efQgh…"]],
    ["prefix", "prefix-longer", 3, ["…fix", "…fix-longer"]],
  ] as const)("differingWindow(%j, %j)", (a, b, ctx, want) => {
    expect(differingWindow(a, b, ctx)).toEqual(want);
  });
});
