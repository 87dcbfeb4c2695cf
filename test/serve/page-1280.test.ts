import { statSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { loadInventory } from "../../src/common/inventory.js";
import { profilesForRole } from "../../src/common/profiles.js";
import type { IssuedCert } from "../../src/pki/issued.js";
import { computeFleet, countByState } from "../../src/pki/serve/fleet.js";
import type { Snapshot } from "../../src/pki/serve/monitor.js";
import { renderFleetPage } from "../../src/pki/serve/page.js";
import { fleetProblems } from "../../src/pki/serve/problems.js";
import { screenshot, withChromium } from "../helpers/chromium.js";
import { HOUR, issued } from "./fixtures.js";

/**
 * The fleet page as the issue's operator met it — the demo's ten hosts,
 * worker2's agent killed — in headless Chromium at 1280 px: every cell of the
 * worst state must be on screen without scrolling, each problem must say what
 * to run next, and a pool must read in plain words.
 */

const inv = loadInventory("examples/demo-cluster.yaml");
const now = new Date("2026-11-26T12:00:00Z");
const life = 60 * HOUR;
const at = (hoursAgo: number) => new Date(now.getTime() - hoursAgo * HOUR);

function demoFleet(): Snapshot {
  const certs: IssuedCert[] = [];
  for (const h of inv.hosts) {
    for (const p of profilesForRole(h.role)) {
      // worker2's agent died 70 h ago: everything it holds expired 10 h ago.
      const signed = h.name === "worker2" ? at(70) : h.name === "controlplane2" && p.name === "host-identity" ? at(55) : at(2);
      certs.push(issued(p.name, p.perHost ? h.name : undefined, signed, new Date(signed.getTime() + life), p.perHost ? {} : { holder: h.name }));
    }
  }
  // An older agent on the etcd hosts: their shared client certificates name nobody, and one of the three is missing.
  const old = certs.filter((c) => c.profile === "etcd-healthcheck-client");
  for (const c of old) certs.splice(certs.indexOf(c), 1);
  for (const h of [3, 4]) certs.push(issued("etcd-healthcheck-client", undefined, at(h), new Date(at(h).getTime() + life)));
  const fleet = computeFleet(inv, certs, now);
  return { cluster: inv.name, generatedAt: now.toISOString(), lastSuccess: now.toISOString(), fleet, counts: countByState(fleet), alerts: [] };
}

describe("the fleet page at 1280 px", () => {
  it("lists each problem with its next step; pools in plain words", () => {
    const s = demoFleet();
    const problems = fleetProblems(s.fleet, { agentLog: ".state/demo/logs/{host}.log" });
    expect(problems[0]).toMatchObject({ state: "expired", identity: "worker2" });
    expect(problems[0]!.entries.map((e) => e.profile).sort()).toEqual(["coredns", "host-identity", "kube-proxy", "kubelet", "kubelet-serving"]);
    expect(problems[0]!.next).toEqual(["hak-deploy check worker2", "less .state/demo/logs/worker2.log"]);
    expect(fleetProblems(s.fleet)[0]!.next[1]).toBe("journalctl -u hak-agent (on worker2)");
    const cp2 = problems.find((p) => p.identity === "controlplane2")!;
    expect(cp2.state).toBe("late");
    const pool = problems.find((p) => p.identity === "etcd hosts (shared)")!;
    expect(pool).toMatchObject({ state: "late", hosts: ["etcd1", "etcd2", "etcd3"] });
    expect(pool.next[0]).toBe("hak-deploy check etcd1 etcd2 etcd3");
    const html = renderFleetPage(s, { refreshSeconds: 30 }).toString();
    expect(html).toContain("2 valid for 3 holders");
    expect(html).not.toMatch(/\d+\/\d+ current/);
  });

  it("shows every cell of the worst state without scrolling, in headless Chromium", async () => {
    const s = demoFleet();
    const expired = s.fleet.filter((e) => e.state === "expired").map((e) => e.id);
    expect(expired.length).toBe(5);
    const html = (await renderFleetPage(s, { refreshSeconds: 30 })).toString();
    await withChromium(
      async (page) => {
        await page.setContent(html);
        const view = { width: 1280, height: 800 };
        // Nothing wider than the window: no sideways scrolling at all.
        expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(view.width);
        for (const id of expired) {
          const box = await page.locator(`.problems [data-cell="${id}"]`).boundingBox();
          expect(box, id).not.toBeNull();
          expect(box!.x + box!.width, id).toBeLessThanOrEqual(view.width);
          expect(box!.y + box!.height, id).toBeLessThanOrEqual(view.height);
        }
        // The grid's expired cells are inside the width too (the host-identity column was off to the right).
        for (const box of await page.locator('td.cell[data-state="expired"]').evaluateAll((tds) => tds.map((td) => td.getBoundingClientRect().right)))
          expect(box).toBeLessThanOrEqual(view.width);
        const first = await page.locator(".problems li.problem").first().innerText();
        expect(first).toMatch(/expired/i);
        expect(first).toContain("worker2");
        expect(first).toContain("hak-deploy check worker2");
        const shot = await screenshot(page, "fleet-page-1280.png");
        expect(statSync(shot).size).toBeGreaterThan(10_000);
      },
      { width: 1280, height: 800 },
    );
  });
});
