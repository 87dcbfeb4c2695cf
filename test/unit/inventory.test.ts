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
    [{ ...base, colour: "blue" }, 'colour: unknown field "colour" (a typo? remove it or fix its name)'],
    [{ ...base, hosts: [{ ...base.hosts[0], address: "10.240.0.10" }, base.hosts[1]] }, "hosts[0].address: 10.240.0.10 is the apiVip"],
    // Bounds (issue 10): lifetimes, Vault addresses, addresses a certificate must not name, nulls, NUL bytes, ambiguous names.
    [{ ...base, leafTtl: "0s" }, "leafTtl: must be at least 60s"],
    [{ ...base, leafTtl: "876001h" }, "leafTtl: must be at most 87600h"],
    [{ ...base, vault: { addresses: ["ftp://vault:8200"] } }, "vault.addresses[0]: must be an http(s) URL, not ftp:"],
    [{ ...base, vault: { addresses: ["https://user:pw@vault:8200"] } }, "vault.addresses[0]: must not carry credentials"],
    [{ ...base, apiVip: "0.0.0.0" }, "apiVip: 0.0.0.0 is an unspecified (0.0.0.0/8) address"],
    [{ ...base, hosts: [{ ...base.hosts[0], address: "239.1.2.3" }, base.hosts[1]] }, "hosts[0].address: 239.1.2.3 is a multicast address"],
    [{ ...base, hosts: [{ ...base.hosts[0], address: "::" }, base.hosts[1]] }, "hosts[0].address: :: is the unspecified address ::"],
    [{ ...base, extraApiserverSans: ["api.example.com", "255.255.255.255"] }, "extraApiserverSans[1]: 255.255.255.255 is the broadcast address"],
    [{ ...base, apiVip: null }, "apiVip: is null; give a value (a string) or leave the field out"],
    [{ ...base, hosts: [{ ...base.hosts[0], bogus: 1 }, base.hosts[1]] }, "hosts[0].bogus: unknown field"],
    [{ ...base, name: "t\u0000x" }, "name: contains a NUL byte"],
    [{ ...base, hosts: [...base.hosts, { name: "serving.w1", role: "worker", address: "10.240.0.31" }] }, 'hosts[2].name: must be a lowercase DNS label (a-z, 0-9, \'-\'; at most 63 characters; no "."'],
  ])("names the field and the problem (%#)", (doc, expected) => {
    expect(errorOf(doc)).toContain(expected);
  });

  it("names the file when YAML aliases explode (a billion laughs)", () => {
    const level = (n: number) => `l${n}: &l${n} [${Array(9).fill(`*l${n - 1}`).join(", ")}]`;
    const bomb = ["l0: &l0 [x, x, x, x, x, x, x, x, x]", ...[1, 2, 3, 4, 5, 6].map(level)].join("\n");
    let msg = "";
    try {
      parseInventoryText(bomb, "bomb.yaml");
    } catch (err) {
      msg = (err as { describe(): string }).describe();
    }
    expect(msg).toMatch(/^bomb\.yaml: not a usable YAML document: Excessive alias count/);
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
    expect(() => loadInventory("/nonexistent/inv.yaml")).toThrow(/cannot read the inventory "\/nonexistent\/inv.yaml": no such file/);
  });
});
