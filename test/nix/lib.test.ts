import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { seededRandom } from "../helpers/random.js";
import { parseInventory, parseInventoryText, type Inventory, type InventoryInput } from "../../src/common/inventory.js";
import { PROJECT_ROOT } from "../../src/common/paths.js";
import { profilesForRole, requestSpec } from "../../src/common/profiles.js";
import {
  apiServerUrl,
  apiserverBackends,
  DEPLOY_ORDER,
  etcdClientUrls,
  etcdInitialCluster,
  keepalivedPeers,
} from "../../src/deploy/topology.js";
import { evalNixJson, NIX_DIR, nixInstantiate, nixPath, nixSandbox, writeInventoryJson, type NixSandbox } from "./nix.js";

/**
 * One source of truth, two readers: the inventory JSON that `hak-deploy hive`
 * writes is read by nix/lib (for the NixOS modules and the hive) and by the
 * TypeScript side (Vault roles, CSRs, deploy). Both must derive the same SAN
 * lists, etcd membership, haproxy backends and keepalived priorities.
 */

/** What the TypeScript side derives, in the shape the Nix expression below returns. */
function tsDerive(inv: Inventory) {
  return {
    etcdInitialCluster: etcdInitialCluster(inv),
    etcdClientUrls: etcdClientUrls(inv),
    apiServerUrl: apiServerUrl(inv),
    apiserverBackends: apiserverBackends(inv),
    keepalivedPeers: keepalivedPeers(inv),
    deployOrder: [...DEPLOY_ORDER],
    hosts: inv.hosts.map((h) => ({
      name: h.name,
      profiles: profilesForRole(h.role).map((p) => p.name),
      certificates: Object.fromEntries(
        profilesForRole(h.role).map((p) => {
          const spec = requestSpec(inv, p.name, h);
          return [p.name, { ...spec, ca: p.ca, organization: p.organization(h) ?? null }];
        }),
      ),
      // The agent must ask for exactly the certificates the role's profiles
      // allow, with the same CSR fields (the Vault roles refuse anything else).
      agentCsrs: profilesForRole(h.role)
        .map((p) => {
          const { profile, commonName, dns, ip } = requestSpec(inv, p.name, h);
          return { profile, commonName, dns, ip };
        })
        // Byte order, as Nix's builtins.sort with < compares strings.
        .sort((a, b) => (a.profile < b.profile ? -1 : a.profile > b.profile ? 1 : 0)),
    })),
  };
}

/** The same, derived by nix/lib from the JSON files, all in one evaluation. */
function nixDerive(sb: NixSandbox, files: string[]): unknown[] {
  const expr = `
    let
      lib = import ${nixPath(join(NIX_DIR, "lib"))};
      derive = file:
        let inv = lib.readInventory file;
        in {
          etcdInitialCluster = lib.etcdInitialCluster inv;
          etcdClientUrls = lib.etcdClientUrls inv;
          apiServerUrl = lib.apiServerUrl inv;
          apiserverBackends = lib.apiserverBackends inv;
          keepalivedPeers = lib.keepalivedPeers inv;
          deployOrder = lib.deployOrder;
          hosts = map (h: {
            inherit (h) name;
            profiles = map (p: p.name) (lib.profilesForRole h.role);
            certificates = lib.certificatesOf inv h;
            agentCsrs = builtins.sort (a: b: a.profile < b.profile) (
              map (o: { inherit (o) profile; inherit (o.extra) commonName dns ip; }) (
                builtins.filter (o: o.profile != null) (builtins.attrValues (lib.agentOutputs inv h { }))
              )
            );
          }) inv.hosts;
        };
    in map derive [ ${files.map(nixPath).join(" ")} ]`;
  return evalNixJson(sb, expr) as unknown[];
}


/** Random but valid inventories: v4 and v6, extra SANs, optional fields, up to 22 load balancers. */
function randomInventory(seed: number): Inventory {
  const r = seededRandom(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
  const count = (lo: number, hi: number) => lo + Math.floor(r() * (hi - lo + 1));
  const v6 = r() < 0.3;
  let n = 0;
  const hosts: InventoryInput["hosts"] = [];
  const add = (role: "etcd" | "controlplane" | "worker" | "loadbalancer", k: number) => {
    for (let i = 1; i <= k; i++) {
      n++;
      const address = v6 && r() < 0.7 ? `fd00:240::${n.toString(16)}` : `10.240.${Math.floor(n / 200)}.${(n % 200) + 11}`;
      hosts.push({ name: `${role.slice(0, 2)}${i}-${seed}`, role, address });
    }
  };
  add("etcd", count(1, 5));
  add("controlplane", count(1, 4));
  add("worker", count(0, 3));
  add("loadbalancer", seed % 7 === 0 ? 22 : count(0, 3));
  // Shuffle so roles interleave: order within a role must survive.
  for (let i = hosts.length - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    [hosts[i], hosts[j]] = [hosts[j]!, hosts[i]!];
  }
  const doc: InventoryInput = {
    name: `c${seed}`,
    hostDomain: pick(["k8s.local", "example.org", "a.b.c.internal"]),
    apiVip: v6 && r() < 0.5 ? "fd00:240::ffff" : "10.240.250.10",
    serviceCidr: pick(["10.32.0.0/24", "10.96.0.0/12", "172.20.0.0/16", "fd00:10:96::/112", "fd00:0:0:1::/108", "2001:db8:0:0:1::/80"]),
    podCidr: "10.200.0.0/16",
    extraApiserverSans: ["1.2.3.4", "fd00::5", "api.example.com", "kubernetes", "10.240.0.12"].filter(() => r() < 0.4),
    hosts,
  };
  if (r() < 0.5) doc.apiDnsName = "api.example.com";
  if (r() < 0.5) doc.clusterDomain = "cluster.example";
  if (r() < 0.5) doc.apiPort = count(1024, 65535);
  if (r() < 0.3) doc.leafTtl = "24h";
  return parseInventory(doc, `random inventory ${seed}`);
}

describe("nix/lib and the TypeScript side derive the same from one inventory", () => {
  let sb: NixSandbox;
  beforeAll(() => {
    nixInstantiate();
    sb = nixSandbox();
  });
  afterAll(() => sb?.cleanup());

  it("the demo inventory: SAN lists per profile, etcd initial-cluster, haproxy backends, keepalived priorities", () => {
    const file = join(PROJECT_ROOT, "examples", "demo-cluster.yaml");
    const inv = parseInventoryText(readFileSync(file, "utf8"), file);
    const [fromNix] = nixDerive(sb, [writeInventoryJson(sb, "demo", inv)]);
    const fromTs = tsDerive(inv);
    expect(fromNix).toEqual(fromTs);
    // Spot checks, so a shared mistake in both readers still shows.
    expect(fromTs.etcdInitialCluster).toBe(
      "etcd1=https://10.240.0.11:2380,etcd2=https://10.240.0.12:2380,etcd3=https://10.240.0.13:2380",
    );
    expect(fromTs.keepalivedPeers.map((p) => [p.name, p.priority, p.state])).toEqual([
      ["loadbalancer1", 200, "MASTER"],
      ["loadbalancer2", 190, "BACKUP"],
    ]);
    const cp1 = fromTs.hosts.find((h) => h.name === "controlplane1")!;
    expect(cp1.certificates.apiserver!.ip).toEqual(["10.32.0.1", "10.240.0.21", "10.240.0.10"]);
    expect(cp1.certificates.apiserver!.dns).toContain("api.k8s.local");
  });

  it("40 random inventories (IPv4 and IPv6, extra SANs, optional fields, many load balancers)", () => {
    const invs = Array.from({ length: 40 }, (_, i) => randomInventory(i + 1));
    const files = invs.map((inv, i) => writeInventoryJson(sb, `random-${i + 1}`, inv));
    const fromNix = nixDerive(sb, files);
    invs.forEach((inv, i) => expect(fromNix[i], `random inventory ${i + 1}`).toEqual(tsDerive(inv)));
    // The generator reaches the cases that matter.
    expect(invs.some((inv) => inv.serviceCidr.includes(":"))).toBe(true);
    expect(invs.some((inv) => keepalivedPeers(inv).at(-1)?.priority === 1)).toBe(true);
  });

  it("agent outputs: files under /var/lib/hak-agent, no two outputs writing one file, secrets only on control planes", () => {
    const file = join(PROJECT_ROOT, "examples", "demo-cluster.yaml");
    const inv = parseInventoryText(readFileSync(file, "utf8"), file);
    const expr = `
      let
        lib = import ${nixPath(join(NIX_DIR, "lib"))};
        inv = lib.readInventory ${nixPath(writeInventoryJson(sb, "demo-outputs", inv))};
      in map (h: { inherit (h) name role; outputs = lib.agentOutputs inv h { }; }) inv.hosts`;
    type Output = { type: string; profile: string | null; owner: string; mode: string; extra: Record<string, unknown> };
    const hosts = evalNixJson(sb, expr) as { name: string; role: string; outputs: Record<string, Output> }[];
    for (const h of hosts) {
      const written = Object.values(h.outputs).flatMap((o) =>
        [o.extra.certFile, o.extra.keyFile, o.extra.caFile, o.extra.path].filter((p): p is string => typeof p === "string"),
      );
      expect(written.every((p) => p.startsWith("/var/lib/hak-agent/")), h.name).toBe(true);
      expect(new Set(written).size, `${h.name}: ${written.join(" ")}`).toBe(written.length);
      const secrets = Object.values(h.outputs).filter((o) => o.type === "secret");
      expect(secrets.map((o) => o.extra.field).sort(), h.name).toEqual(h.role === "controlplane" ? ["key", "pub"] : []);
      // Private parts are never group- or world-readable unless a group is named.
      for (const o of Object.values(h.outputs)) if (o.extra.field !== "pub") expect(o.mode, h.name).toMatch(/^0[0-7][04]0$/);
    }
  });

  it("refuses the YAML-shaped document (no defaults applied) with a message naming the fix", () => {
    const file = writeInventoryJson(sb, "raw", {
      name: "raw",
      hostDomain: "k8s.local",
      apiVip: "10.240.0.10",
      serviceCidr: "10.32.0.0/24",
      podCidr: "10.200.0.0/16",
      hosts: [{ name: "etcd1", role: "etcd", address: "10.240.0.11" }],
    } as unknown as Inventory);
    expect(() => nixDerive(sb, [file])).toThrow(/missing clusterDomain, apiPort, extraApiserverSans, leafTtl.*hak-deploy hive/s);
  });
});
