import { mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadInventory } from "../../src/common/inventory.js";
import { PROJECT_ROOT } from "../../src/common/paths.js";
import type { HostPlan } from "../../src/plan/index.js";
import { evalNixJson, execWords, NIX_DIR, nixInstantiate, nixPath, nixSandbox, writeHiveDir, type NixSandbox } from "./nix.js";

/**
 * nix/lib, the notation nix/modules/plan.nix spells a plan in, evaluated by
 * Debian's nix-instantiate (pure: CI has no nixpkgs) on every host plan of
 * the demo hive: the ExecStart nix/modules/plan.nix gives each plan service
 * is the program's binary and then exactly the plan's arguments (parsed back
 * the way systemd splits it), the firewall opens to everyone only what the
 * plan opens to everyone and everything else only to the plan's sources.
 * The module itself (lib.evalModules, option types, Colmena's makeHive) is
 * evaluated by scripts/nix-eval-hive.sh where nixpkgs.lib can be fetched.
 */

interface Mapped {
  services: { name: string; program: string; args: string[]; execStart: string }[];
  openTcp: number[];
  openUdp: number[];
  openTcpRanges: { from: number; to: number }[];
  openUdpRanges: { from: number; to: number }[];
  iptables: string[];
  nftables: string[];
  tmpfiles: string[];
  routes: string[];
  etcNames: (string | null)[];
}

function mapExpr(plansDir: string): string {
  return `
    let
      l = import ${nixPath(join(NIX_DIR, "lib"))};
      plans = l.readPlans ${nixPath(plansDir)};
    in builtins.mapAttrs (_: p: {
      services = map (s: { inherit (s) name program args; execStart = l.execStart "/run/bin/\${s.program}" s.args; }) p.services;
      openTcp = l.openPorts p.firewall.tcp;
      openUdp = l.openPorts p.firewall.udp;
      openTcpRanges = l.openRanges p.firewall.tcp;
      openUdpRanges = l.openRanges p.firewall.udp;
      iptables = l.iptablesCommands p.firewall;
      nftables = l.nftablesRules p.firewall;
      tmpfiles = l.tmpfilesRules p;
      routes = l.routeCommands p;
      etcNames = map (f: l.etcName f.path) p.files;
    }) plans`;
}

const readPlans = (dir: string): Record<string, HostPlan> =>
  Object.fromEntries(
    readdirSync(dir)
      .filter((f) => f.endsWith(".json"))
      .map((f) => JSON.parse(readFileSync(join(dir, f), "utf8")) as HostPlan)
      .filter((p) => p.schema === "hak.plan/v1")
      .map((p) => [p.host.name, p]),
  );

describe("nix/lib maps host plans (pure evaluation, every demo host)", () => {
  let sb: NixSandbox;
  const committed = join(PROJECT_ROOT, "hive", "plans");
  let mapped: Record<string, Mapped>;
  let plans: Record<string, HostPlan>;
  beforeAll(() => {
    nixInstantiate();
    sb = nixSandbox();
    plans = readPlans(committed);
    mapped = evalNixJson(sb, mapExpr(committed)) as Record<string, Mapped>;
  });
  afterAll(() => sb?.cleanup());

  it("reads one plan per demo host (and not the cluster plan beside them)", () => {
    const inv = loadInventory(join(PROJECT_ROOT, "examples", "demo-cluster.yaml"));
    expect(Object.keys(mapped).sort()).toEqual(inv.hosts.map((h) => h.name).sort());
    expect(Object.keys(mapped)).toHaveLength(10);
  });

  it("gives every service ExecStart = its program, then exactly the plan's args", () => {
    let n = 0;
    for (const [host, m] of Object.entries(mapped)) {
      expect(m.services.map((s) => s.name), host).toEqual(plans[host]!.services.map((s) => s.name));
      for (const s of m.services) {
        expect(execWords(s.execStart), `${host} ${s.name}`).toEqual([`/run/bin/${s.program}`, ...plans[host]!.services.find((p) => p.name === s.name)!.args]);
        n++;
      }
    }
    expect(n).toBeGreaterThanOrEqual(30);
  });

  it("opens to everyone only the plan's rules without sources, the others only to their sources", () => {
    for (const [host, m] of Object.entries(mapped)) {
      const fw = plans[host]!.firewall;
      for (const [proto, open, ranges] of [["tcp", m.openTcp, m.openTcpRanges], ["udp", m.openUdp, m.openUdpRanges]] as const) {
        const rules = fw[proto];
        expect(open, `${host} ${proto}`).toEqual(rules.filter((r) => !r.from && r.port).map((r) => r.port));
        expect(ranges, `${host} ${proto}`).toEqual(rules.filter((r) => !r.from && r.range).map((r) => ({ from: r.range![0], to: r.range![1] })));
        for (const r of rules.filter((r) => r.from)) {
          for (const cidr of r.from!)
            expect(m.iptables, `${host} ${proto} ${r.port} from ${cidr}`).toContain(
              `${cidr.includes(":") ? "ip6tables" : "iptables"} -A nixos-fw -p ${proto} -s ${cidr} --dport ${r.port ?? r.range!.join(":")} -j nixos-fw-accept`,
            );
          expect(m.nftables.some((l) => l.includes(`${proto} dport ${r.port ?? r.range!.join("-")} accept`) && r.from!.every((c) => l.includes(c))), `${host} nft`).toBe(true);
        }
      }
      for (const p of fw.protocols) for (const cidr of p.from) expect(m.iptables).toContain(`iptables -A nixos-fw -p ${p.protocol} -s ${cidr} -j nixos-fw-accept`);
    }
  });

  it("keeps DNS and the kubelet to cluster sources, opens NodePorts on workers (the issue's firewall defects)", () => {
    for (const [host, m] of Object.entries(mapped)) {
      expect(m.openTcp, host).not.toContain(53);
      expect(m.openUdp, host).not.toContain(53);
      expect(m.openUdp, host).not.toContain(8472);
      expect(m.openTcp, host).not.toContain(10250);
      if (plans[host]!.host.role === "worker") {
        expect(m.openTcpRanges).toContainEqual({ from: 30000, to: 32767 });
        expect(m.openUdpRanges).toContainEqual({ from: 30000, to: 32767 });
        expect(m.iptables.filter((l) => l.includes("--dport 53 ")).length).toBeGreaterThan(0);
      }
    }
  });

  it("writes directories, routes and /etc files from the plan", () => {
    const w = mapped.worker1!;
    const plan = plans.worker1!;
    expect(w.tmpfiles).toEqual(plan.directories.map((d) => `d ${d.path} ${d.mode} ${d.owner ?? "root"} ${d.group ?? "root"} -`));
    expect(w.routes).toEqual(plan.routes.map((r) => `ip route replace ${r.destination} via ${r.via}`));
    expect(w.etcNames).toEqual(plan.files.map((f) => f.path.replace(/^\/etc\//, "")));
  });
});

describe("nix/lib on plans it must not take as they are", () => {
  let sb: NixSandbox;
  let demoPlan: HostPlan;
  beforeAll(() => {
    nixInstantiate();
    sb = nixSandbox();
    const inv = loadInventory(join(PROJECT_ROOT, "examples", "demo-cluster.yaml"));
    demoPlan = readPlans(join(writeHiveDir(sb, "fresh", inv), "plans")).etcd1!;
  });
  afterAll(() => sb?.cleanup());

  function dirWith(name: string, files: Record<string, unknown>): string {
    const dir = join(sb.dir, name);
    mkdirSync(dir, { recursive: true });
    for (const [f, v] of Object.entries(files)) writeFileSync(join(dir, f), JSON.stringify(v));
    return dir;
  }

  it("passes arguments with spaces, quotes, backslashes, % and $ through systemd's quoting unchanged", () => {
    const args = ["--a=b c", 'quote"d', "back\\slash", "100%", "$HOME", "${x}", "line\nbreak", ""];
    const dir = dirWith("odd", { "etcd1.json": { ...demoPlan, services: [{ ...demoPlan.services[0]!, args }] } });
    const out = evalNixJson(sb, mapExpr(dir)) as Record<string, Mapped>;
    const exec = out.etcd1!.services[0]!.execStart;
    expect(exec).toContain("100%%");
    expect(exec).toContain("$$HOME");
    expect(execWords(exec)).toEqual(["/run/bin/etcd", ...args]);
  });

  it("refuses a file that is not a host plan, naming it", () => {
    const dir = dirWith("notplan", { "etcd1.json": { ...demoPlan, schema: "something/v9" } });
    expect(() => evalNixJson(sb, mapExpr(dir))).toThrow(/notplan\/etcd1.json: not a host plan \(schema hak.plan\/v1\)/);
  });

  it("refuses a plan of another version, saying which", () => {
    const dir = dirWith("version", { "etcd1.json": { ...demoPlan, version: 2 } });
    expect(() => evalNixJson(sb, mapExpr(dir))).toThrow(/plan version 2, this hak reads version 1/);
  });

  it("refuses a plan in another host's file", () => {
    const dir = dirWith("swapped", { "etcd2.json": demoPlan });
    expect(() => evalNixJson(sb, mapExpr(dir))).toThrow(/the plan of etcd1 in the file of etcd2/);
  });

  it("the hive's Nix reads the plans `hak-deploy hive` writes now (not only the committed ones)", () => {
    const fresh = join(sb.dir, "fresh", "hive", "plans");
    const out = evalNixJson(sb, mapExpr(fresh)) as Record<string, Mapped>;
    expect(Object.keys(out)).toHaveLength(10);
  });
});
