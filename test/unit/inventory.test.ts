import { describe, expect, it } from "vitest";
import { InputError } from "../../src/common/errors.js";
import { loadInventory, parseInventory, parseInventoryText } from "../../src/common/inventory.js";

const base = {
  name: "t",
  hostDomain: "k8s.local",
  apiVip: "10.240.0.10",
  serviceCidr: "10.32.0.0/24",
  podCidr: "10.200.0.0/16",
  hosts: [
    { name: "etcd1", role: "etcd", address: "10.240.0.11" },
    { name: "cp1", role: "controlplane", address: "10.240.0.21" },
  ],
};

function errorOf(doc: unknown): string {
  try {
    parseInventory(doc, "inv.yaml");
  } catch (err) {
    expect(err).toBeInstanceOf(InputError);
    return (err as InputError).describe();
  }
  throw new Error("expected an error");
}

describe("inventory", () => {
  it("reads the demo inventory with defaults applied", () => {
    const inv = loadInventory("examples/demo-cluster.yaml");
    expect(inv.hosts).toHaveLength(10);
    expect(inv.clusterDomain).toBe("cluster.local");
    expect(inv.leafTtl).toBe(720 * 3600);
    expect(inv.apiPort).toBe(6443);
    expect(inv.hosts.map((h) => h.role)).toEqual([
      "etcd", "etcd", "etcd", "controlplane", "controlplane", "controlplane", "worker", "worker", "loadbalancer", "loadbalancer",
    ]);
  });

  it("accepts JSON as well as YAML", () => {
    expect(parseInventoryText(JSON.stringify(base), "x.json").name).toBe("t");
  });

  it.each([
    [{ ...base, hosts: [...base.hosts, { name: "w1", role: "worker", address: "10.240.0.999" }] }, "inv.yaml: hosts[2].address: not an IPv4/IPv6 address"],
    [{ ...base, hosts: [...base.hosts, { name: "w1", role: "minion", address: "10.240.0.31" }] }, "hosts[2].role: must be one of etcd, controlplane, worker, loadbalancer"],
    [{ ...base, hosts: [...base.hosts, { name: "Worker_1", role: "worker", address: "10.240.0.31" }] }, "hosts[2].name: must be a lowercase DNS label"],
    [{ ...base, hosts: [...base.hosts, { name: "etcd1", role: "worker", address: "10.240.0.31" }] }, 'hosts[2].name: duplicate host name "etcd1" (also hosts[0])'],
    // Colmena's reserved node names (its eval.nix): the hive would not evaluate.
    ...["network", "meta", "defaults"].map((n): [unknown, string] => [
      { ...base, hosts: [...base.hosts, { name: n, role: "worker", address: "10.240.0.31" }] },
      `hosts[2].name: "${n}" is reserved by Colmena`,
    ]),
    [{ ...base, hosts: [...base.hosts, { name: "w1", role: "worker", address: "10.240.0.11" }] }, "hosts[2].address: duplicate address 10.240.0.11 (also hosts[0])"],
    [{ ...base, serviceCidr: "10.32.0.1/24" }, "serviceCidr: not a CIDR"],
    [{ ...base, podCidr: "10.32.0.0/16" }, "podCidr: overlaps serviceCidr"],
    [{ ...base, leafTtl: "a month" }, 'leafTtl: not a duration: "a month"'],
    [{ ...base, hosts: [base.hosts[0]] }, "hosts: no host has role controlplane"],
    [{ ...base, colour: "blue" }, "Unrecognized key(s) in object: 'colour'"],
    [{ ...base, hosts: [{ ...base.hosts[0], address: "10.240.0.10" }, base.hosts[1]] }, "hosts[0].address: 10.240.0.10 is the apiVip"],
  ])("names the field and the problem (%#)", (doc, expected) => {
    expect(errorOf(doc)).toContain(expected);
  });

  it("reports every problem at once", () => {
    const msg = errorOf({ ...base, apiVip: "x", serviceCidr: "y" });
    expect(msg).toContain("2 problems");
    expect(msg).toContain("apiVip: not an IPv4/IPv6 address");
    expect(msg).toContain("serviceCidr: not a CIDR");
  });

  it("gives the line of a YAML syntax error", () => {
    let described = "";
    try {
      parseInventoryText("name: a\nhosts: [\n", "bad.yaml");
    } catch (err) {
      described = (err as InputError).describe();
    }
    expect(described).toMatch(/^bad\.yaml:\d+:\d+: not valid YAML/);
  });

  it("names a missing file and how to give one", () => {
    expect(() => loadInventory("/nonexistent/inv.yaml")).toThrow(/cannot read inventory: ENOENT/);
  });
});
