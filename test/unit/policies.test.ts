import { readFileSync, readdirSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { HOST_ROLES } from "../../src/common/inventory.js";
import { PRINCIPALS, policyName } from "../../src/common/names.js";
import { PROFILES, profilesForRole } from "../../src/common/profiles.js";
import { celCapable, celSignPath, signPath } from "../../src/common/sign.js";

/** The paths and capabilities of a policy file. */
function rules(principal: string): Map<string, string[]> {
  const text = readFileSync(`policies/${policyName(principal as "etcd")}.hcl`, "utf8");
  const out = new Map<string, string[]>();
  for (const m of text.matchAll(/path "([^"]+)" \{\s*capabilities = \[([^\]]*)\]/g)) {
    out.set(m[1]!, m[2]!.split(",").map((c) => c.trim().replace(/"/g, "")).filter(Boolean));
  }
  return out;
}

const TEMPLATE = "{{identity.entity.metadata.host}}";

describe("policies", () => {
  it("has one file per principal and nothing else", () => {
    expect(readdirSync("policies").sort()).toEqual(PRINCIPALS.map((p) => `${policyName(p)}.hcl`).sort());
  });

  it.each(HOST_ROLES)("grants a %s host exactly the sign paths of its profiles, per-host ones templated", (role) => {
    const r = rules(role);
    const signPaths = [...r.keys()].filter((p) => p.includes("/sign/"));
    const expected = profilesForRole(role).flatMap((p) => [
      signPath(p.name, p.perHost ? TEMPLATE : undefined),
      ...(celCapable(p.name) ? [celSignPath(p.name, TEMPLATE)] : []),
    ]);
    expect(signPaths.sort()).toEqual(expected.sort());
    for (const p of signPaths) expect(r.get(p)).toEqual(["update"]);
    // No glob that could reach another role, no issue/sign-verbatim/root path.
    for (const p of r.keys()) {
      expect(p).not.toMatch(/\*|\+|\/issue\/|sign-verbatim|\/root\//);
    }
  });

  it("gives the auditor no capability that writes", () => {
    for (const [path, caps] of rules("auditor")) {
      // sys/audit is root-protected: listing the audit devices needs sudo, which adds no write.
      const allowed = path === "sys/audit" ? ["read", "list", "sudo"] : ["read", "list"];
      expect(caps.every((c) => allowed.includes(c)), `${path}: ${caps.join(", ")}`).toBe(true);
    }
  });

  it("never lets the operator export a CA key or have Vault make a leaf key", () => {
    const paths = [...rules("operator").keys()];
    expect(paths.some((p) => /exported|\/issue\/|sign-verbatim/.test(p))).toBe(false);
    for (const p of Object.values(PROFILES)) expect(paths).toContain(signPath(p.name, "x").replace(/\/sign\/.*/, "/sign/*"));
  });
});
