import { describe, expect, it } from "vitest";
import { seededRandom } from "../helpers/random.js";
import { latePoint } from "../../src/common/lifetime.js";
import type { CertFacts } from "../../src/common/x509.js";
import {
  addPending,
  backoffDelay,
  failureKind,
  flushAt,
  keepUnwritten,
  probeDelay,
  recoveryDelay,
  renewalTime,
  reuseVerdict,
  type CertOnDisk,
  type WantedCert,
} from "../../src/agent/policy.js";


const H = 3600_000;
const t0 = new Date("2026-01-01T00:00:00Z");
const at = (ms: number) => new Date(t0.getTime() + ms);

describe("renewalTime", () => {
  it.each([
    // lifetime, random, jitter, expected offset from notBefore
    [30 * H, 0.5, 0.1, 20 * H],
    [30 * H, 0, 0.1, 17 * H],
    [30 * H, 1, 0.1, 23 * H],
    [30 * H, 0.25, 0, 20 * H],
    [3 * H, 0.5, 0.1, 2 * H],
    [90_000, 0.5, 0.1, 60_000],
  ])("lifetime %i ms, random %f, jitter %f -> %i ms after notBefore", (life, r, jitter, expected) => {
    expect(renewalTime(t0, at(life), jitter, () => r).getTime() - t0.getTime()).toBe(expected);
  });

  it("truncates to whole seconds", () => {
    expect(renewalTime(t0, at(1000_000), 0, () => 0.5).getTime() % 1000).toBe(0);
  });

  it("property: within 2/3 ± jitter of the lifetime, and always before the late point for jitter <= 0.15", () => {
    const rnd = seededRandom(42);
    for (let i = 0; i < 2000; i++) {
      const life = Math.floor(60_000 + rnd() * 400 * 24 * H);
      const jitter = rnd() * 0.15;
      const nb = at(Math.floor(rnd() * 1e10));
      const na = new Date(nb.getTime() + life);
      const r = renewalTime(nb, na, jitter, rnd).getTime();
      const nominal = nb.getTime() + (life * 2) / 3;
      expect(r).toBeGreaterThanOrEqual(Math.floor((nominal - jitter * life) / 1000) * 1000 - 1);
      expect(r).toBeLessThanOrEqual(nominal + jitter * life);
      expect(r).toBeLessThan(latePoint(nb, na).getTime());
      expect(r).toBeGreaterThan(nb.getTime());
    }
  });
});


describe("backoffDelay", () => {
  const s = { min: 1, max: 300 };
  it.each([
    [0, 1, 1000],
    [0, 0, 500],
    [1, 1, 2000],
    [3, 1, 8000],
    [8, 1, 256_000],
    [9, 1, 300_000],
    [50, 1, 300_000],
    [50, 0, 150_000],
    [1000, 0.5, 225_000],
  ])("attempt %i, random %f -> %i ms", (attempt, r, ms) => {
    expect(backoffDelay(attempt, s, () => r)).toBe(ms);
  });

  it("property: between half and all of min·2^n, capped at max, never decreasing in its nominal value", () => {
    const rnd = seededRandom(7);
    for (let i = 0; i < 2000; i++) {
      const min = 0.1 + rnd() * 10;
      const max = min + rnd() * 600;
      const n = Math.floor(rnd() * 40);
      const d = backoffDelay(n, { min, max }, rnd);
      const nominal = Math.min(max, min * 2 ** n) * 1000;
      expect(d).toBeGreaterThanOrEqual(Math.floor(nominal / 2));
      expect(d).toBeLessThanOrEqual(Math.ceil(nominal));
      expect(d).toBeLessThanOrEqual(max * 1000 + 1);
    }
  });
});

describe("reuseVerdict", () => {
  const facts: CertFacts = {
    serial: "01",
    commonName: "etcd1",
    organization: [],
    organizationalUnit: ["hak:etcd-server"],
    issuerCommonName: "etcd-ca",
    notBefore: t0,
    notAfter: at(30 * H),
    dns: ["etcd1", "localhost"],
    ip: ["127.0.0.1"],
    keyUsage: [],
    extKeyUsage: [],
    isCa: false,
    publicKeyAlgorithm: "ECDSA",
    fingerprintSha256: "",
  };
  const want: WantedCert = { profile: "etcd-server", commonName: "etcd1", dns: ["localhost", "ETCD1"], ip: ["127.0.0.1"], keyType: "ec" };
  const good: CertOnDisk = { facts, keyMatches: true, signedByCa: true };
  const now = at(H);
  const renewAt = at(20 * H);

  it("reuses a matching certificate that is not due", () => {
    expect(reuseVerdict(good, want, now, renewAt)).toEqual({ reuse: true });
  });

  it.each<[string, CertOnDisk, Partial<WantedCert>, Date, RegExp]>([
    ["missing", { ...good, facts: null }, {}, now, /no certificate/],
    ["key mismatch", { ...good, keyMatches: false }, {}, now, /key on disk/],
    ["other CA", { ...good, signedByCa: false }, {}, now, /not signed by the CA/],
    ["CN", good, { commonName: "etcd2" }, now, /common name/],
    ["DNS SAN added", good, { dns: ["etcd1", "localhost", "etcd1.k8s.local"] }, now, /DNS SANs/],
    ["IP SAN changed", good, { ip: ["127.0.0.2"] }, now, /IP SANs/],
    ["profile", good, { profile: "etcd-peer" }, now, /profile is etcd-server/],
    ["key type", good, { keyType: "rsa" }, now, /wanted rsa/],
    ["due", good, {}, at(20 * H), /due for renewal/],
    ["expired", good, {}, at(31 * H), /expired/],
  ])("renews when %s", (_name, disk, change, when, reason) => {
    const v = reuseVerdict(disk, { ...want, ...change }, when, renewAt);
    expect(v.reuse).toBe(false);
    expect(!v.reuse && v.reason).toMatch(reason);
  });
});

describe("action debouncing", () => {
  it("deduplicates by key and flushes after the quiet time, capped by the max delay", () => {
    let p = addPending<string>(undefined, [{ key: "reload etcd", action: "a" }], 1000);
    p = addPending(p, [{ key: "reload etcd", action: "b" }, { key: "hup api", action: "c" }], 1500);
    expect([...p!.actions.values()]).toEqual(["a", "c"]);
    expect(flushAt(p!, 2000, 10_000)).toBe(3500);
    for (let t = 2000; t < 20_000; t += 1000) p = addPending(p, [{ key: "reload etcd", action: "x" }], t);
    expect(flushAt(p!, 2000, 10_000)).toBe(11_000);
    expect(addPending(undefined, [], 5)).toBeUndefined();
  });
});

describe("probeDelay and recoveryDelay", () => {
  it.each([
    [2, 0, 1000],
    [2, 0.5, 2000],
    [2, 0.999, 2998],
    [1, 0, 500],
  ])("probe every %is, random %f -> %i ms", (interval, r, ms) => {
    expect(probeDelay(interval, () => r)).toBe(ms);
  });

  it("property: a probe comes 0.5-1.5 intervals after the last, so the rate is bounded by 2/interval; recovery within [0, spread)", () => {
    const rnd = seededRandom(11);
    for (let i = 0; i < 2000; i++) {
      const interval = 1 + rnd() * 30;
      const d = probeDelay(interval, rnd);
      expect(d).toBeGreaterThanOrEqual(Math.floor(interval * 500));
      expect(d).toBeLessThanOrEqual(Math.ceil(interval * 1500));
      const spread = rnd() * 60;
      const r = recoveryDelay(spread, rnd);
      expect(r).toBeGreaterThanOrEqual(0);
      expect(r).toBeLessThanOrEqual(spread * 1000);
    }
  });
});

describe("failureKind", () => {
  const v = (status: number | undefined, ...errors: string[]) => ({ status, errors });
  it.each([
    ["no answer", { local: false, vault: [v(undefined)] }, "unreachable"],
    ["sealed (503)", { local: false, vault: [v(503)] }, "unreachable"],
    ["rate-limited (429)", { local: false, vault: [v(429)] }, "unreachable"],
    ["a node not yet active (500)", { local: false, vault: [v(500, "local node not active but active cluster node not found")] }, "unreachable"],
    ["a CEL refusal (500)", { local: false, vault: [v(500, "request denied by CEL program")] }, "refused"],
    ["permission denied (403)", { local: false, vault: [v(403, "permission denied")] }, "refused"],
    ["a bad request (400)", { local: false, vault: [v(400)] }, "refused"],
    ["no Vault error at all (a bad owner)", { local: false, vault: [] }, "refused"],
    ["a full disk", { local: true, vault: [] }, "local"],
    ["cert login refused, then AppRole had no answer", { local: false, vault: [v(400), v(undefined)] }, "unreachable"],
  ])("%s -> %s", (_name, facts, kind) => {
    expect(failureKind(facts)).toBe(kind);
  });
});

describe("keepUnwritten", () => {
  it("keeps a signed certificate that could not be written until its own renewal point (2/3 of its life)", () => {
    const nb = t0;
    const na = at(30 * H);
    expect(keepUnwritten(at(0), nb, na)).toBe(true);
    expect(keepUnwritten(at(20 * H - 1), nb, na)).toBe(true);
    expect(keepUnwritten(at(20 * H), nb, na)).toBe(false);
    expect(keepUnwritten(at(31 * H), nb, na)).toBe(false);
  });
});
