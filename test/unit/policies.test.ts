import { readFileSync, readdirSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { HOST_ROLES } from "../../src/common/inventory.js";
import { PRINCIPALS, policyName } from "../../src/common/names.js";
import { PROFILES, profilesForRole } from "../../src/common/profiles.js";
import { celCapable, celSignPath, signPath } from "../../src/common/sign.js";
import { bootstrapPolicyRules } from "../../src/pki/bootstrap-policy.js";
import { readPolicyFile } from "../../src/pki/desired.js";

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

  it("pins every write of the bootstrap credential that could grant more", () => {
    const rules = bootstrapPolicyRules();
    const byPath = new Map(rules.map((r) => [r.path, r]));
    // Policies: exact names, each only with the text of its file.
    for (const p of PRINCIPALS) expect(byPath.get(`sys/policies/acl/${policyName(p)}`)?.allowed?.policy).toEqual([readPolicyFile(p)]);
    expect(rules.filter((r) => r.path.startsWith("sys/policies/acl/")).every((r) => !/[*+]/.test(r.path) && r.allowed?.policy)).toBe(true);
    // Auth roles carry exactly one host policy; entities none.
    const hostPolicies = HOST_ROLES.map((r) => [policyName(r)]);
    expect(byPath.get("auth/approle/role/+")?.allowed?.token_policies).toEqual(hostPolicies);
    expect(byPath.get("auth/cert/certs/+")?.allowed?.token_policies).toEqual(hostPolicies);
    expect(byPath.get("identity/entity/name/hak-host-*")?.allowed?.policies).toEqual([[]]);
    // Every sys/ write is an exact path with its type pinned; no token creation, no sys glob.
    for (const r of rules.filter((x) => x.path.startsWith("sys/") && x.caps.some((c) => c === "create" || c === "update"))) {
      expect(r.path, r.path).not.toMatch(/[*+]/);
      expect(r.allowed, r.path).toBeDefined();
    }
    expect(rules.some((r) => r.path.startsWith("auth/token"))).toBe(false);
  });

  it("lets hosts and the operator sign only with the parameters hak sends", () => {
    for (const principal of [...HOST_ROLES, "operator"] as const) {
      const text = readFileSync(`policies/${policyName(principal)}.hcl`, "utf8");
      const blocks = [...text.matchAll(/path "([^"]*\/sign\/[^"]*)" \{([\s\S]*?)\n\}/g)];
      expect(blocks.length).toBeGreaterThan(0);
      for (const [, path, body] of blocks) {
        const params = [...body!.matchAll(/"([a-z_]+)" = /g)].map((m) => m[1]).sort();
        const expected = ["common_name", "csr", "exclude_cn_from_sans", "format", "ttl", ...(principal === "operator" ? [] : ["uri_sans"])].sort();
        expect(params, `${principal} ${path}`).toEqual(expected);
      }
    }
  });
});
