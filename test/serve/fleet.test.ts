import { describe, expect, it } from "vitest";
import { profilesForRole } from "../../src/common/profiles.js";
import { computeFleet, countByState, fleetRows, type CertState } from "../../src/pki/serve/fleet.js";
import { HOUR, issued, smallInventory } from "./fixtures.js";

const now = new Date("2026-11-26T12:00:00Z");
const ago = (h: number) => new Date(now.getTime() - h * HOUR);

describe("life measured from the signing time", () => {
  it("keeps a 5-minute certificate ok until 2/3 of its 5 minutes, as the agent renews it", () => {
    const inv = smallInventory();
    const signed = new Date(now.getTime() - 150_000); // half way through a 5-minute life
    const e = computeFleet(inv, [issued("etcd-server", "etcd1", signed, new Date(signed.getTime() + 300_000))], now).find((x) => x.id === "etcd1/etcd-server")!;
    expect(e.state).toBe("ok");
    expect(e.renewAt).toBe(new Date(signed.getTime() + 200_000).toISOString());
    expect(e.issuedAt).toBe(signed.toISOString());
  });
});

describe("computeFleet: one state per expected identity and profile", () => {
  // Lifetime 60h: renewal point at 40h, late from 50h, expired at 60h.
  it.each<[string, number, CertState]>([
    ["fresh", 1, "ok"],
    ["just before the renewal point", 39.9, "ok"],
    ["past the renewal point", 40, "soon"],
    ["in the last sixth", 50, "late"],
    ["a second before expiry", 59.99, "late"],
    ["at notAfter", 60, "expired"],
    ["long gone", 600, "expired"],
  ])("etcd-server issued %s (%d h ago, 60h lifetime) is %s", (_label, hoursAgo, want) => {
    const inv = smallInventory();
    const nb = ago(hoursAgo);
    const fleet = computeFleet(inv, [issued("etcd-server", "etcd1", nb, new Date(nb.getTime() + 60 * HOUR))], now);
    const e = fleet.find((x) => x.id === "etcd1/etcd-server")!;
    expect(e.state).toBe(want);
    expect(e.expiresAt).toBe(new Date(nb.getTime() + 60 * HOUR).toISOString());
    expect(e.secondsLeft).toBe(Math.round((60 - hoursAgo) * 3600));
  });

  it("expects exactly the profiles of each host's role, missing when never signed", () => {
    const inv = smallInventory();
    const fleet = computeFleet(inv, [], now);
    // Nothing signed at all: every holder of a shared profile lacks it too, on its own row.
    const perHost = fleet.filter((e) => e.holder.kind === "host");
    expect(perHost).toHaveLength(fleet.length);
    for (const h of inv.hosts) {
      const want = profilesForRole(h.role).map((p) => p.name).sort();
      expect(perHost.filter((e) => e.identity === h.name).map((e) => e.profile).sort()).toEqual(want);
    }
    expect(fleet.every((e) => e.state === "missing")).toBe(true);
    // admin and super-admin belong to operators, not hosts: not expected.
    expect(fleet.some((e) => e.profile === "admin" || e.profile === "super-admin")).toBe(false);
  });

  it("takes the newest certificate of an identity and ignores revoked ones", () => {
    const inv = smallInventory();
    const old = issued("kubelet", "w1", ago(55), new Date(ago(55).getTime() + 60 * HOUR));
    const fresh = issued("kubelet", "w1", ago(1), new Date(ago(1).getTime() + 60 * HOUR));
    const revokedNewer = issued("kubelet", "w1", ago(0.5), new Date(ago(0.5).getTime() + 60 * HOUR), { revoked: true });
    const e = computeFleet(inv, [old, revokedNewer, fresh], now).find((x) => x.id === "w1/kubelet")!;
    expect(e.serial).toBe(fresh.serial);
    expect(e.state).toBe("ok");
  });

  it("rates a shared pool by its N-th newest current certificate", () => {
    const inv = smallInventory([{ name: "cp2", role: "controlplane", address: "127.0.30.22" }]);
    const life = 60 * HOUR;
    const renewed = issued("apiserver-etcd-client", undefined, ago(1), new Date(ago(1).getTime() + life));
    const stale = issued("apiserver-etcd-client", undefined, ago(52), new Date(ago(52).getTime() + life));
    const pool = (certs: ReturnType<typeof issued>[]) => computeFleet(inv, certs, now).find((x) => x.id === "shared:controlplane/apiserver-etcd-client")!;
    // Two holders, one renewed, one stuck in its last sixth: the pool is late.
    expect(pool([renewed, stale])).toMatchObject({ state: "late", current: 2, needed: 2, serial: stale.serial });
    // Only one current certificate for two holders: late even though it is fresh.
    expect(pool([renewed])).toMatchObject({ state: "late", current: 1, needed: 2 });
    const renewed2 = issued("apiserver-etcd-client", undefined, ago(2), new Date(ago(2).getTime() + life));
    expect(pool([renewed, renewed2, stale]).state).toBe("ok");
    expect(pool([issued("apiserver-etcd-client", undefined, ago(70), ago(10))]).state).toBe("expired");
    expect(pool([renewed]).identity).toBe("controlplane hosts (shared)");
  });

  it("shows a shared profile per holder when its certificates name the holder", () => {
    const inv = smallInventory([
      { name: "w2", role: "worker", address: "127.0.30.32" },
      { name: "w3", role: "worker", address: "127.0.30.33" },
    ]);
    const life = 60 * HOUR;
    const fresh = (h: string) => issued("kube-proxy", undefined, ago(1), new Date(ago(1).getTime() + life), { holder: h });
    // w3's agent died: its last kube-proxy certificate expired, while w1 and w2 renewed twice.
    const certs = [fresh("w1"), fresh("w2"), fresh("w1"), fresh("w2"), issued("kube-proxy", undefined, ago(70), ago(10), { holder: "w3" })];
    const fleet = computeFleet(inv, certs, now);
    const kp = fleet.filter((e) => e.profile === "kube-proxy");
    // cp1 holds kube-proxy too (control planes are nodes) and has no certificate at all.
    expect(kp.map((e) => `${e.id}=${e.state}`).sort()).toEqual(["cp1/kube-proxy=missing", "w1/kube-proxy=ok", "w2/kube-proxy=ok", "w3/kube-proxy=expired"]);
    expect(kp.find((e) => e.id === "cp1/kube-proxy")?.holder).toMatchObject({ kind: "host", role: "controlplane" });
    expect(kp.find((e) => e.id === "w1/kube-proxy")?.holder).toMatchObject({ kind: "host", role: "worker" });
    expect(fleetRows(fleet)[0]).toMatchObject({ identity: "w3", worst: "expired" });
    // A holder that never named itself, next to anonymous certificates from before: a pool of the holders left.
    const mixed = computeFleet(inv, [fresh("w1"), fresh("w2"), issued("kube-proxy", undefined, ago(55), new Date(ago(55).getTime() + life))], now);
    // cp1 (a control plane, a node too) and w3 never named themselves: a pool of two with one live certificate.
    expect(mixed.find((e) => e.id === "shared:controlplane/kube-proxy")).toMatchObject({ state: "late", current: 1, needed: 2, holder: { hosts: ["cp1", "w3"] } });
    expect(mixed.filter((e) => e.profile === "kube-proxy")).toHaveLength(3);
  });

  it("sorts worst first, then by time left", () => {
    const inv = smallInventory();
    const life = 60 * HOUR;
    const certs = [
      issued("etcd-server", "etcd1", ago(1), new Date(ago(1).getTime() + life)),
      issued("etcd-peer", "etcd1", ago(70), ago(10)),
      issued("host-identity", "etcd1", ago(51), new Date(ago(51).getTime() + life)),
      issued("host-identity", "cp1", ago(55), new Date(ago(55).getTime() + life)),
      issued("kubelet", "w1", ago(45), new Date(ago(45).getTime() + life)),
    ];
    const fleet = computeFleet(inv, certs, now);
    const order = fleet.map((e) => e.state);
    const rank = (s: CertState) => ["expired", "late", "missing", "soon", "ok"].indexOf(s);
    expect(order.map(rank)).toEqual([...order.map(rank)].sort((a, b) => a - b));
    expect(fleet[0]!.id).toBe("etcd1/etcd-peer");
    // Among the late ones, the one closer to expiry comes first.
    expect(fleet.filter((e) => e.state === "late").map((e) => e.id)).toEqual(["cp1/host-identity", "etcd1/host-identity"]);
    const counts = countByState(fleet);
    expect(counts.expired).toBe(1);
    expect(counts.late).toBe(2);
    expect(counts.soon).toBe(1);
    expect(counts.ok).toBe(1);
    expect(Object.values(counts).reduce((a, b) => a + b, 0)).toBe(fleet.length);
    const rows = fleetRows(fleet);
    expect(rows[0]!.identity).toBe("etcd1");
    expect(rows[0]!.worst).toBe("expired");
    expect(new Set(rows.map((r) => r.identity)).size).toBe(rows.length);
  });

  it("orders healthy rows by role and name (hosts before their pool), urgent ones by time left", () => {
    const inv = smallInventory([
      { name: "etcd10", role: "etcd", address: "127.0.30.12" },
      { name: "etcd2", role: "etcd", address: "127.0.30.13" },
    ]);
    const life = 60 * HOUR;
    const all = inv.hosts.flatMap((h) => ["etcd-server", "etcd-peer", "host-identity", "apiserver", "kubelet", "kubelet-serving"].map((p) => [h.name, p] as const));
    const certs = all.map(([h, p], i) => issued(p as "kubelet", h, ago(1 + i / 100), new Date(ago(1 + i / 100).getTime() + life)));
    const shared = ["etcd-healthcheck-client", "apiserver-etcd-client", "apiserver-kubelet-client", "front-proxy-client", "controller-manager", "scheduler", "kube-proxy", "coredns"] as const;
    for (const p of shared) for (let i = 0; i < 3; i++) certs.push(issued(p, undefined, ago(1), new Date(ago(1).getTime() + life)));
    const rows = fleetRows(computeFleet(inv, certs, now));
    expect(rows.every((r) => r.worst === "ok")).toBe(true);
    expect(rows.map((r) => r.identity)).toEqual(["etcd1", "etcd2", "etcd10", "etcd hosts (shared)", "cp1", "controlplane hosts (shared)", "w1", "worker hosts (shared)"]);
    // Rows in trouble jump ahead of everything healthy, worst state first.
    const trouble = certs.filter((c) => !((c.host === "etcd2" && c.profile === "etcd-peer") || (c.host === "w1" && c.profile === "kubelet")));
    trouble.push(issued("etcd-peer", "etcd2", ago(55), new Date(ago(55).getTime() + life)));
    trouble.push(issued("kubelet", "w1", ago(45), new Date(ago(45).getTime() + life)));
    const order = fleetRows(computeFleet(inv, trouble, now)).map((r) => `${r.identity}:${r.worst}`);
    expect(order.slice(0, 3)).toEqual(["etcd2:late", "w1:soon", "etcd1:ok"]);
  });
});
