import { spawnSync } from "node:child_process";
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseInventory } from "../../src/common/inventory.js";
import { PROJECT_ROOT } from "../../src/common/paths.js";
import { hostPlan, type HostPlan } from "../../src/plan/index.js";

/**
 * The load balancers' haproxy.cfg and keepalived.conf exactly as their plans
 * carry them (hive/plans/loadbalancer*.json; nix/modules/plan.nix puts them
 * into /etc unchanged, scripts/nix-eval-hive.sh checks that), checked by
 * Debian's real haproxy (`haproxy -c`) and keepalived (`--config-test`).
 * The track script keepalived runs is the plan's file too, written here with
 * its planned mode into a root-only temporary folder, and the config's path
 * to it pointed there (the only change: /etc/hak does not exist here). Its
 * script_user is a system user of the host (the NixOS module creates it from
 * the plan's users; scripts/setup.sh creates it here).
 */

const plansDir = join(PROJECT_ROOT, "hive", "plans");
const lbPlans: HostPlan[] = readdirSync(plansDir)
  .filter((f) => f.startsWith("loadbalancer") && f.endsWith(".json"))
  .map((f) => JSON.parse(readFileSync(join(plansDir, f), "utf8")) as HostPlan);

const fileOf = (p: HostPlan, suffix: string) => {
  const f = p.files.find((x) => x.path.endsWith(suffix));
  if (!f) throw new Error(`${p.host.name}: no ${suffix} in its plan`);
  return f;
};

function run(cmd: string, args: string[]): { status: number | null; signal: string | null; output: string } {
  const res = spawnSync(cmd, args, { encoding: "utf8", timeout: 20_000 });
  return { status: res.status, signal: res.signal, output: `${res.stdout}${res.stderr}`.trim() };
}

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "hak-lbcfg-"));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("haproxy -c on the load balancers' planned haproxy.cfg", () => {
  it("has a plan for each demo load balancer", () => {
    expect(lbPlans.map((p) => p.host.name).sort()).toEqual(["loadbalancer1", "loadbalancer2"]);
  });

  it.each(lbPlans.map((p) => [p.host.name, p] as const))("%s: accepted", (name, p) => {
    const file = join(dir, `${name}-haproxy.cfg`);
    writeFileSync(file, fileOf(p, "/haproxy.cfg").content);
    const res = run("haproxy", ["-c", "-f", file]);
    expect(res.status, res.output).toBe(0);
  });

  it("an IPv6 inventory's plan too", () => {
    const inv = parseInventory({
      name: "six",
      hostDomain: "k8s.local",
      apiVip: "fd00::10",
      serviceCidr: "fd00:32::/112",
      podCidr: "fd00:200::/56",
      vault: { addresses: ["https://[fd00::5]:8200"] },
      hosts: [
        { name: "etcd1", role: "etcd", address: "fd00::11" },
        { name: "cp1", role: "controlplane", address: "fd00::21" },
        { name: "w1", role: "worker", address: "fd00::31" },
        { name: "lb1", role: "loadbalancer", address: "fd00::41" },
      ],
    });
    const file = join(dir, "six-haproxy.cfg");
    writeFileSync(file, fileOf(hostPlan(inv, "lb1"), "/haproxy.cfg").content);
    const res = run("haproxy", ["-c", "-f", file]);
    expect(res.status, res.output).toBe(0);
    expect(readFileSync(file, "utf8")).toContain("server cp1 [fd00::21]:6443 check");
  });

  it("refuses a broken one (the check can fail)", () => {
    const file = join(dir, "broken-haproxy.cfg");
    writeFileSync(file, fileOf(lbPlans[0]!, "/haproxy.cfg").content.replace("mode tcp", "mode tcpp"));
    expect(run("haproxy", ["-c", "-f", file]).status).not.toBe(0);
  });
});

describe("keepalived --config-test on the load balancers' planned keepalived.conf", () => {
  /** The plan's config with its check script written beside it (planned mode), the path pointed there. */
  function stage(p: HostPlan, tweak: (conf: string) => string = (c) => c): string {
    const script = fileOf(p, "/check-haproxy");
    const scriptFile = join(dir, `${p.host.name}-check-haproxy`);
    writeFileSync(scriptFile, script.content);
    chmodSync(scriptFile, parseInt(script.mode, 8));
    const conf = fileOf(p, "/keepalived.conf").content;
    expect(conf).toContain(`script "${script.path}"`);
    const file = join(dir, `${p.host.name}-keepalived.conf`);
    writeFileSync(file, tweak(conf.replace(`script "${script.path}"`, `script "${scriptFile}"`)));
    return file;
  }

  /**
   * Accepted: exit 0, or (keepalived 2.2.7 with a VRRP track script) the
   * test process ending itself with SIGTERM after the check, with nothing
   * said; refused: exit 5 (KEEPALIVED_EXIT_CONFIG_TEST) and the reasons.
   */
  const accepted = (r: ReturnType<typeof run>) => (r.status === 0 || r.signal === "SIGTERM") && r.output === "";

  it.each(lbPlans.map((p) => [p.host.name, p] as const))("%s: accepted, the haproxy track script kept, run as the planned script_user", (name, p) => {
    const conf = fileOf(p, "/keepalived.conf").content;
    const user = /script_user (\S+)/.exec(conf)?.[1];
    expect(conf).toMatch(/enable_script_security/);
    expect(user).toBeDefined();
    // The user the config names is one the plan creates (and this machine has: scripts/setup.sh).
    expect(p.users.map((u) => u.name)).toContain(user);
    expect(run("id", [user!]).status, `no user ${user} here: run scripts/setup.sh as root`).toBe(0);
    const res = run("keepalived", ["--config-test", "-f", stage(p)]);
    expect(accepted(res), `${name}: ${JSON.stringify(res)}`).toBe(true);
  });

  it("drops the track script when script_user does not exist (the defect this guards against)", () => {
    const res = run("keepalived", ["--config-test", "-f", stage(lbPlans[0]!, (c) => c.replace(/script_user \S+/, "script_user hak-no-such-user"))]);
    expect(accepted(res)).toBe(false);
    expect(res.output).toMatch(/track script haproxy not found, ignoring/);
  });
});
