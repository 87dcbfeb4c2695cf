import { describe, expect, it } from "vitest";
import { join } from "node:path";
import { InputError } from "../../src/common/errors.js";
import { loadInventory } from "../../src/common/inventory.js";
import { PROJECT_ROOT } from "../../src/common/paths.js";
import { inventoryOnLoopback } from "../helpers/inventory.js";

const demo = loadInventory(join(PROJECT_ROOT, "examples", "demo-cluster.yaml"));

describe("the demo inventory on loopback (the kubeadm parity test's hosts)", () => {
  it("moves every host and the VIP onto the loopback /24, keeping the last octet", () => {
    const local = inventoryOnLoopback(demo, { prefix: "127.0.240", vaultAddress: "https://127.0.0.1:8200", leafTtlSeconds: 300 });
    expect(local.hosts.map((h) => h.name)).toEqual(demo.hosts.map((h) => h.name));
    for (const [i, h] of local.hosts.entries()) expect(h.address).toBe(`127.0.240.${demo.hosts[i]!.address.split(".")[3]}`);
    expect(local.apiVip).toBe("127.0.240.10");
    expect(local.leafTtl).toBe(300);
    expect(local.vault?.addresses).toEqual(["https://127.0.0.1:8200"]);
  });

  it("refuses hosts that would collide, naming the field", () => {
    const clash = { ...demo, hosts: [...demo.hosts, { name: "extra", role: "worker" as const, address: "10.9.9.11" }] };
    expect(() => inventoryOnLoopback(clash, { prefix: "127.0.240", vaultAddress: "https://127.0.0.1:8200" })).toThrow(/hosts\[10\]\.address: duplicate address 127\.0\.240\.11/);
    expect(() => inventoryOnLoopback(demo, { prefix: "10.0.0", vaultAddress: "x" })).toThrow(InputError);
  });
});
