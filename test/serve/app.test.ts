import { describe, expect, it } from "vitest";
import { createServeApp } from "../../src/pki/serve/app.js";
import { computeFleet, countByState } from "../../src/pki/serve/fleet.js";
import { fleetRegistry } from "../../src/pki/serve/metrics.js";
import type { MonitorStats, Snapshot } from "../../src/pki/serve/monitor.js";
import { shortDuration } from "../../src/pki/serve/page.js";
import { HOUR, issued, smallInventory } from "./fixtures.js";

const now = new Date("2026-11-26T12:00:00Z");
const ago = (h: number) => new Date(now.getTime() - h * HOUR);

function snapshot(over: Partial<Snapshot> = {}): Snapshot {
  const inv = smallInventory();
  const fleet = computeFleet(
    inv,
    [
      issued("etcd-server", "etcd1", ago(1), new Date(ago(1).getTime() + 60 * HOUR)),
      issued("etcd-peer", "etcd1", ago(70), ago(10)),
      issued("kubelet", "w1", ago(52), new Date(ago(52).getTime() + 60 * HOUR)),
    ],
    now,
  );
  return { cluster: inv.name, generatedAt: now.toISOString(), lastSuccess: now.toISOString(), fleet, counts: countByState(fleet), alerts: [], ...over };
}

const stats: MonitorStats = { refreshes: 3, refreshErrors: 1, webhookDelivered: 2, webhookFailed: 0, alertEvents: 4 };

function app(s: Snapshot, at = now) {
  return createServeApp({ snapshot: () => s, registry: fleetRegistry(() => s, () => stats), refreshSeconds: 15, staleAfterSeconds: 60, now: () => at });
}

describe("serve app (in process)", () => {
  it("/api/fleet returns the snapshot, worst first", async () => {
    const res = await app(snapshot()).request("/api/fleet");
    expect(res.status).toBe(200);
    const body = (await res.json()) as Snapshot;
    expect(body.fleet[0]).toMatchObject({ id: "etcd1/etcd-peer", state: "expired" });
    expect(body.counts.expired).toBe(1);
    expect(body.counts.late).toBe(1);
  });

  it("/metrics exposes expiration, state and counts per state", async () => {
    const res = await app(snapshot()).request("/metrics");
    expect(res.headers.get("content-type")).toMatch(/text\/plain/);
    const text = await res.text();
    const exp = Date.parse(new Date(ago(1).getTime() + 60 * HOUR).toISOString()) / 1000;
    expect(text).toContain(`hak_fleet_certificate_expiration_timestamp_seconds{cluster="t",identity="etcd1",host="etcd1",profile="etcd-server",ca="etcd"} ${exp}`);
    expect(text).toMatch(/hak_fleet_certificate_state\{cluster="t",identity="w1",host="w1",profile="kubelet",ca="kubernetes",state="late"\} 1/);
    expect(text).toMatch(/hak_fleet_certificate_state\{cluster="t",identity="w1",host="w1",profile="kubelet",ca="kubernetes",state="ok"\} 0/);
    expect(text).toMatch(/hak_fleet_certificates\{cluster="t",state="expired"\} 1/);
    expect(text).toContain("hak_fleet_refresh_errors_total 1");
    // Missing identities have a state but no expiration series.
    expect(text).toMatch(/hak_fleet_certificate_state\{[^}]*identity="cp1"[^}]*profile="apiserver"[^}]*state="missing"\} 1/);
    expect(text).not.toMatch(/expiration_timestamp_seconds\{[^}]*identity="cp1"[^}]*profile="apiserver"/);
  });

  it("/healthz is 200 while Vault was read recently, 503 once the snapshot is stale", async () => {
    expect((await app(snapshot()).request("/healthz")).status).toBe(200);
    const stale = await app(snapshot(), new Date(now.getTime() + 61_000)).request("/healthz");
    expect(stale.status).toBe(503);
    const never = await app(snapshot({ lastSuccess: undefined, error: "no answer" })).request("/healthz");
    expect(never.status).toBe(503);
    expect(await never.json()).toMatchObject({ ok: false, error: "no answer" });
  });

  it("the page has a row per host, cells by state, a meta refresh, no script, and escapes what Vault says", async () => {
    const evil = '<script>alert("x")</script>';
    const res = await app(
      snapshot({
        error: `Vault said ${evil}`,
        drift: { checkedAt: now.toISOString(), compared: 10, items: [{ id: "pki-role pki-etcd/roles/x", kind: "pki-role", action: "update", changes: [`allowed_domains: ["${evil}"] -> ["etcd1"]`] }] },
      }),
    ).request("/");
    expect(res.status).toBe(200);
    expect(res.headers.get("content-security-policy")).toContain("default-src 'none'");
    const html = await res.text();
    expect(html).toContain('<meta http-equiv="refresh" content="15">');
    expect(html).not.toContain("<script");
    expect(html).toContain("&lt;script&gt;");
    for (const host of ["etcd1", "cp1", "w1"]) expect(html).toContain(`data-identity="${host}"`);
    expect(html.indexOf('data-identity="etcd1"')).toBeLessThan(html.indexOf('data-identity="w1"'));
    expect(html).toMatch(/data-state="expired" data-profile="etcd-peer"/);
    expect(html).toContain("10h ago");
    expect(html).toContain('data-drift="1"');
  });

  it("unknown paths say where to go", async () => {
    const res = await app(snapshot()).request("/nope");
    expect(res.status).toBe(404);
    expect(await res.text()).toContain("/api/fleet");
  });
});

describe("shortDuration", () => {
  it.each([
    [45, "45s"],
    [3 * 3600 + 12 * 60 + 5, "3h 12m"],
    [19 * 86400 + 4 * 3600 + 59, "19d 4h"],
    [30 * 86400, "30d"],
    [0, "0s"],
  ])("%d s -> %s", (s, want) => expect(shortDuration(s)).toBe(want));
});
