import { describe, expect, it } from "vitest";
import { parseBook, serializeBook, stepAlerts, webhookPayloads, type ActiveAlert } from "../../src/pki/serve/alerts.js";
import type { CertState, FleetEntry } from "../../src/pki/serve/fleet.js";
import { retryDelayMs, retryableStatus } from "../../src/pki/serve/webhook.js";

function entry(id: string, state: CertState): FleetEntry {
  const [host, profile] = id.split("/") as [string, FleetEntry["profile"]];
  return {
    id,
    identity: host,
    holder: { kind: "host", host, role: "etcd" },
    profile,
    ca: "etcd",
    state,
    ...(state === "missing" ? {} : { serial: "0a", expiresAt: "2026-11-27T00:00:00.000Z", renewAt: "2026-11-26T00:00:00.000Z" }),
  };
}

const t = (m: number) => new Date(Date.UTC(2026, 10, 26, 12, m));

describe("stepAlerts: one alert per transition into late, expired or missing", () => {
  it("walks ok -> soon -> late -> late -> expired -> ok", () => {
    let book = new Map<string, ActiveAlert>();
    const seq: [CertState, string[]][] = [
      ["ok", []],
      ["soon", []],
      ["late", ["firing HakFleetCertificateLate"]],
      ["late", []],
      ["expired", ["resolved HakFleetCertificateLate", "firing HakFleetCertificateExpired"]],
      ["expired", []],
      ["ok", ["resolved HakFleetCertificateExpired"]],
      ["ok", []],
    ];
    seq.forEach(([state, want], i) => {
      const r = stepAlerts(book, [entry("etcd1/etcd-server", state)], "demo", t(i));
      expect(r.events.map((e) => `${e.status} ${e.alert.labels.alertname}`), `step ${i} (${state})`).toEqual(want);
      book = r.book;
    });
  });

  it("keeps the start time of an alert that stays firing and ends it when resolved", () => {
    const a = stepAlerts(new Map(), [entry("w1/kubelet", "missing")], "demo", t(0));
    const b = stepAlerts(a.book, [entry("w1/kubelet", "missing")], "demo", t(5));
    expect(b.book.get("w1/kubelet")!.startsAt).toBe(t(0).toISOString());
    const c = stepAlerts(b.book, [entry("w1/kubelet", "ok")], "demo", t(9));
    expect(c.events).toHaveLength(1);
    expect(c.events[0]).toMatchObject({ status: "resolved", endsAt: t(9).toISOString() });
    expect(c.events[0]!.alert.startsAt).toBe(t(0).toISOString());
    expect(c.book.size).toBe(0);
  });

  it("resolves alerts of identities that left the inventory", () => {
    const a = stepAlerts(new Map(), [entry("w1/kubelet", "late")], "demo", t(0));
    const b = stepAlerts(a.book, [], "demo", t(1));
    expect(b.events.map((e) => e.status)).toEqual(["resolved"]);
  });

  it("fires at start-up for identities already in trouble, and not for healthy ones", () => {
    const r = stepAlerts(new Map(), [entry("a/etcd-peer", "ok"), entry("b/etcd-peer", "soon"), entry("c/etcd-peer", "expired")], "demo", t(0));
    expect(r.events.map((e) => e.alert.labels.host)).toEqual(["c"]);
    expect(r.events[0]!.alert.labels).toMatchObject({ severity: "critical", profile: "etcd-peer", cluster: "demo", state: "expired" });
  });
});

describe("the alert book on disk", () => {
  it("round-trips, and garbage reads as no book", () => {
    const { book } = stepAlerts(new Map(), [entry("a/etcd-peer", "late"), entry("b/etcd-peer", "missing")], "demo", t(0));
    expect(parseBook(serializeBook(book))).toEqual(book);
    expect(parseBook("{")).toBeUndefined();
    expect(parseBook('[{"id": 1}]')).toBeUndefined();
  });
});

describe("webhookPayloads: Alertmanager webhook format", () => {
  it("groups events by status with version 4, zero endsAt while firing, common labels", () => {
    const a = stepAlerts(new Map(), [entry("x/etcd-server", "late"), entry("y/etcd-server", "late")], "demo", t(0));
    const b = stepAlerts(a.book, [entry("x/etcd-server", "ok"), entry("y/etcd-server", "expired")], "demo", t(1));
    const payloads = webhookPayloads(b.events, { cluster: "demo", externalURL: "http://127.0.0.1:9000/" });
    expect(payloads.map((p) => p.status)).toEqual(["firing", "resolved"]);
    const [firing, resolved] = payloads as [(typeof payloads)[0], (typeof payloads)[0]];
    expect(firing.version).toBe("4");
    expect(firing.alerts).toHaveLength(1);
    expect(firing.alerts[0]).toMatchObject({ status: "firing", endsAt: "0001-01-01T00:00:00Z", labels: { host: "y", alertname: "HakFleetCertificateExpired" } });
    expect(resolved.alerts.map((x) => x.labels.host).sort()).toEqual(["x", "y"]);
    expect(resolved.alerts.every((x) => x.endsAt === t(1).toISOString())).toBe(true);
    expect(resolved.commonLabels).toMatchObject({ cluster: "demo", alertname: "HakFleetCertificateLate" });
    expect(resolved.commonLabels.host).toBeUndefined();
    expect(firing.alerts[0]!.fingerprint).toMatch(/^[0-9a-f]{16}$/);
    expect(firing.alerts[0]!.generatorURL).toBe("http://127.0.0.1:9000/#y%2Fetcd-server");
    expect(webhookPayloads([], { cluster: "demo", externalURL: "x" })).toEqual([]);
  });
});

describe("retry backoff", () => {
  it("doubles from the base, is capped, and jitters within [d/2, d]", () => {
    const p = { baseMs: 500, capMs: 8000 };
    expect([1, 2, 3, 4, 5, 6, 9].map((n) => retryDelayMs(n, p, () => 1))).toEqual([500, 1000, 2000, 4000, 8000, 8000, 8000]);
    expect(retryDelayMs(3, p, () => 0)).toBe(1000);
    for (let i = 0; i < 200; i++) {
      const d = retryDelayMs(1 + (i % 10), p);
      expect(d).toBeGreaterThanOrEqual(250);
      expect(d).toBeLessThanOrEqual(8000);
    }
  });
  it("retries server failures and throttling, not client errors", () => {
    expect([500, 502, 503, 429, 408].every(retryableStatus)).toBe(true);
    expect([400, 401, 403, 404, 422].some(retryableStatus)).toBe(false);
  });
});

describe("alert annotations", () => {
  it("say what to run next, as the page does, and pools in plain words", () => {
    const r = stepAlerts(new Map(), [entry("etcd1/etcd-server", "expired")], "demo", t(0));
    expect(r.events[0]!.alert.annotations.next).toBe("hak-deploy check etcd1; journalctl -u hak-agent (on etcd1)");
    const pool: FleetEntry = { ...entry("shared:etcd/etcd-healthcheck-client", "late"), identity: "etcd hosts (shared)", holder: { kind: "shared", role: "etcd", hosts: ["etcd1", "etcd2"] }, current: 1, needed: 2 };
    const p = stepAlerts(new Map(), [pool], "demo", t(0)).events[0]!.alert.annotations;
    expect(p.description).toContain("the etcd hosts etcd1, etcd2 (shared; 1 valid for 2 holders)");
    expect(p.next).toBe("hak-deploy check etcd1 etcd2; journalctl -u hak-agent (on etcd1, etcd2)");
  });
});

describe("next steps for an anomaly", () => {
  it("name the certificate to revoke and the dry run that shows the role's hole", () => {
    const e: FleetEntry = { ...entry("etcd1/etcd-server", "anomaly"), anomalies: ["1a:2b:3c: lifetime 8760h, longer than leafTtl 720h"] };
    const next = stepAlerts(new Map(), [e], "demo", t(0)).events[0]!.alert.annotations.next;
    expect(next).toBe("hak-pki status (ANOMALIES); bao write pki-etcd/revoke serial_number=1a:2b:3c; hak-pki bootstrap -i INVENTORY --dry-run (shows a role that differs)");
  });
});
