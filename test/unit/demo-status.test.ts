import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { loadInventory } from "../../src/common/inventory.js";
import { PROJECT_ROOT } from "../../src/common/paths.js";
import type { HostStatus } from "../../src/cluster/units.js";
import { demoLogs, demoStatusRows, renderDemoStatus } from "../../src/demo/status.js";

const inv = loadInventory(join(PROJECT_ROOT, "examples", "demo-cluster.yaml"));
const unit = (name: string, state: HostStatus["units"][number]["state"], restarts = 0) => ({ name, state, pid: 100, restarts: { requested: restarts, crashed: 0, changed: 0 }, signals: 0 });

describe("npm run demo -- status / logs", () => {
  const dir = mkdtempSync(join(tmpdir(), "hak-demo-logs-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("lists every host's units, marks what is down and names the next command", () => {
    const hosts: HostStatus[] = inv.hosts.filter((h) => h.name !== "worker2").map((h) => ({ host: h.name, pid: 1, at: "", units: [unit("hak-agent", "ready", 2)] }));
    hosts[0]!.units.push(unit("etcd", "backoff"));
    const rows = demoStatusRows(inv, hosts, [{ name: "openbao", pid: 5, running: true }, { name: "hak-pki-serve", pid: 6, running: false }]);
    expect(rows.filter((r) => !r.ok).map((r) => `${r.host}/${r.unit}`)).toEqual(["demo/hak-pki-serve", `${inv.hosts[0]!.name}/etcd`, "worker2/(supervisor)"]);
    expect(rows.find((r) => r.unit === "hak-agent")?.restarts).toBe(2);
    const text = renderDemoStatus(rows);
    expect(text).toMatch(/etcd\s+BACKOFF/);
    expect(text).toContain("npm run demo -- logs worker2");
    expect(renderDemoStatus(rows.filter((r) => r.ok))).toMatch(/^all \d+ up/m);
  });

  it("shows the last lines of one host's logs, lists the files without a host, and names a host with none", () => {
    writeFileSync(join(dir, "worker1-kubelet.log"), Array.from({ length: 30 }, (_, i) => `line ${i}`).join("\n") + "\n");
    writeFileSync(join(dir, "worker1-hak-agent.log"), "agent up\n");
    writeFileSync(join(dir, "worker10-kubelet.log"), "not worker1's\n");
    const out = demoLogs(dir, "worker1", 3, PROJECT_ROOT);
    expect(out).toContain("worker1-kubelet.log <==\nline 27\nline 28\nline 29\n");
    expect(out).toContain("agent up");
    expect(out).not.toContain("not worker1's");
    expect(demoLogs(dir, undefined, 3, PROJECT_ROOT)).toMatch(/worker10-kubelet\s+14 B/);
    expect(() => demoLogs(dir, "nope", 3, PROJECT_ROOT)).toThrow(/no logs for host "nope"/);
    expect(() => demoLogs(join(dir, "missing"), undefined, 3, PROJECT_ROOT)).toThrow(/no logs yet/);
  });
});
