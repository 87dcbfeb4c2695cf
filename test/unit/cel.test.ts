import { describe, expect, it } from "vitest";
import { findHost, loadInventory } from "../../src/common/inventory.js";
import { PROFILES } from "../../src/common/profiles.js";
import { celProgram, ipBytesLiteral } from "../../src/pki/cel.js";

const inv = loadInventory("examples/demo-cluster.yaml");

describe("CEL roles", () => {
  it.each([
    ["10.240.0.32", 'b"\\x0a\\xf0\\x00\\x20"'],
    ["127.0.0.1", 'b"\\x7f\\x00\\x00\\x01"'],
    ["::1", `b"${"\\x00".repeat(15)}\\x01"`],
    ["fd00::a:1", `b"\\xfd${"\\x00".repeat(11)}\\x00\\x0a\\x00\\x01"`],
  ])("writes %s as the bytes Go's net.IP holds", (ip, lit) => {
    expect(ipBytesLiteral(ip)).toBe(lit);
  });

  it("pins the host's own CN, DNS names and addresses, and fixes O, OU and usages", () => {
    const p = celProgram(inv, PROFILES["kubelet-serving"], findHost(inv, "worker2")!);
    const v = Object.fromEntries(p.variables.map((x) => [x.name, x.expression]));
    expect(v.cn_ok).toBe('parsed_csr.Subject.CommonName == "system:node:worker2"');
    expect(v.allowed_dns).toBe('["worker2", "worker2.k8s.local"]');
    expect(v.allowed_ips).toBe('{"10.240.0.32": b"\\x0a\\xf0\\x00\\x20"}');
    expect(p.expression).toContain('Organization: ["system:nodes"], OrganizationUnit: ["hak:kubelet-serving"]');
    expect(p.expression).toContain("ExtKeyUsage: [ExtKeyUsage.ExtKeyUsageServerAuth]");
    expect(v.lifetime).toContain(`duration("${inv.leafTtl}s")`);
  });
});
