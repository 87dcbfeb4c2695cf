import { describe, expect, it } from "vitest";
import { diffFields, normalize } from "../../src/pki/diff.js";

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
