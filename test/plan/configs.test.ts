import { spawnSync } from "node:child_process";
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { loadInventory } from "../../src/common/inventory.js";
import { ipv6Inventory } from "../helpers/inventory.js";
import { PROJECT_ROOT } from "../../src/common/paths.js";
import { hostPlan, relocatePlan, type HostPlan } from "../../src/plan/index.js";
import { HAPROXY_CONFIG_FILE, KEEPALIVED_CONFIG_FILE } from "../../src/plan/loadbalancer.js";

/**
 * The load balancers' rendered configs, checked by the real programs:
 * `haproxy -c` and `keepalived --config-test` (Debian's, from scripts/setup.sh).
 * The plans are moved under a scratch root, as the local cluster runs them.
 */

const demo = loadInventory(join(PROJECT_ROOT, "examples", "demo-cluster.yaml"));
const dir = mkdtempSync(join(tmpdir(), "hak-plan-configs-"));
// keepalived's script security refuses a script any non-root user could replace: root-only folders.
chmodSync(dir, 0o755);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** keepalived refuses loopback for VRRP and checks the interface exists: the first other one here. */
const iface = readdirSync("/sys/class/net").find((n) => n !== "lo") ?? "eth0";

function writePlan(p: HostPlan, root: string): HostPlan {
  const moved = relocatePlan(p, root);
  for (const f of moved.files) {
    mkdirSync(dirname(f.path), { recursive: true, mode: 0o755 });
    writeFileSync(f.path, f.content, { mode: parseInt(f.mode, 8) });
    chmodSync(f.path, parseInt(f.mode, 8));
  }
  return moved;
}

function fileOf(p: HostPlan, hostPath: string, root: string): string {
  return p.files.find((f) => f.path === `${root}${hostPath}`)!.path;
}

/**
 * keepalived 2.2.7 ends a successful --config-test of a config with a
 * vrrp_script by sending itself SIGTERM (strace: kill(self, SIGTERM), no
 * message), and prints config errors but may still end the same way. So:
 * nothing on stderr, and exit 0 or that SIGTERM. (It does not notice a
 * missing script file; the plan writes the script beside the config.)
 */
function keepalivedTest(args: string[]): { ok: boolean; err: string } {
  const r = spawnSync("keepalived", [...args, "--config-test"], { encoding: "utf8", timeout: 20_000 });
  const err = `${r.stderr ?? ""}${r.stdout ?? ""}`.trim();
  return { ok: err === "" && (r.status === 0 || r.signal === "SIGTERM"), err };
}

describe("load balancer configs pass the real programs' checks", () => {
  it.each([["loadbalancer1"], ["loadbalancer2"]])("%s: the plan's haproxy and keepalived command lines with -c / --config-test", (name) => {
    const root = join(dir, name);
    const authFile = join(dir, `${name}-vrrp-auth.conf`);
    writeFileSync(authFile, "authentication {\n  auth_type PASS\n  auth_pass abcd1234\n}\n", { mode: 0o600 });
    const p = writePlan(hostPlan(demo, name, { loadbalancer: { interface: iface, authFile } }), root);
    const args = (svc: string) => p.services.find((s) => s.name === svc)!.args;
    expect(args("haproxy")).toContain(fileOf(p, HAPROXY_CONFIG_FILE, root));
    const haproxy = spawnSync("haproxy", [...args("haproxy"), "-c"], { encoding: "utf8" });
    expect(haproxy.status, haproxy.stderr + haproxy.stdout).toBe(0);
    expect(haproxy.stdout + haproxy.stderr).toContain("Configuration file is valid");
    expect(args("keepalived")).toContain(fileOf(p, KEEPALIVED_CONFIG_FILE, root));
    const ka = keepalivedTest(args("keepalived"));
    expect(ka.err).toBe("");
    expect(ka.ok).toBe(true);
  });

  it("an IPv6 inventory's load balancer: haproxy accepts its config, backends in brackets", () => {
    const inv = ipv6Inventory("fd00::", { hostDomain: "k8s.local", loadBalancers: 1 });
    const root = join(dir, "six");
    const p = writePlan(hostPlan(inv, "lb1", { loadbalancer: { interface: iface } }), root);
    const hcfg = fileOf(p, HAPROXY_CONFIG_FILE, root);
    const haproxy = spawnSync("haproxy", ["-c", "-f", hcfg], { encoding: "utf8" });
    expect(haproxy.status, haproxy.stderr + haproxy.stdout).toBe(0);
    expect(p.files.find((f) => f.path === hcfg)!.content).toContain("server cp1 [fd00::21]:6443 check");
  });

  it("negative controls: a broken haproxy.cfg and a keepalived.conf naming an unknown script user fail the same checks", () => {
    const root = join(dir, "broken");
    const p = writePlan(hostPlan(demo, "loadbalancer1", { loadbalancer: { interface: iface } }), root);
    const hcfg = fileOf(p, HAPROXY_CONFIG_FILE, root);
    writeFileSync(hcfg, p.files.find((f) => f.path === hcfg)!.content.replace("balance roundrobin", "balance nosuchalgorithm"));
    expect(spawnSync("haproxy", ["-c", "-f", hcfg], { encoding: "utf8" }).status).not.toBe(0);
    const kcfg = fileOf(p, KEEPALIVED_CONFIG_FILE, root);
    writeFileSync(kcfg, p.files.find((f) => f.path === kcfg)!.content.replace("script_user hak-keepalived-script", "script_user hak-no-such-user"));
    const ka = keepalivedTest(["-f", kcfg, "-p", join(dir, "ka.pid"), "-r", join(dir, "vrrp.pid")]);
    expect(ka.ok).toBe(false);
    expect(ka.err).toMatch(/script uid|user/i);
  });
});
