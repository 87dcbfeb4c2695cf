import { describe, expect, it } from "vitest";
import { backdateSeconds, certLife, latePoint, lifeState, renewalPoint, signedAt, stateOf } from "../../src/common/lifetime.js";

const t = (s: number) => new Date(Date.UTC(2026, 0, 1) + s * 1000);

describe("certificate life", () => {
  it.each([
    [720 * 3600, 300],
    [3000, 300],
    [120, 12],
    [60, 6],
    [5, 0],
  ])("a %i s leaf is backdated %i s", (ttl, backdate) => {
    expect(backdateSeconds(ttl)).toBe(backdate);
  });

  it("measures from when Vault signed, not from the backdated notBefore", () => {
    // A 2-minute leaf backdated 12 s: signed at 0, notBefore -12, notAfter 120.
    const start = signedAt(t(-12), t(120), backdateSeconds(120));
    expect(start).toEqual(t(0));
    expect(renewalPoint(start, t(120))).toEqual(t(80));
    expect(latePoint(start, t(120))).toEqual(t(100));
    expect(lifeState(t(79), start, t(120))).toBe("ok");
    expect(lifeState(t(80), start, t(120))).toBe("soon");
    expect(lifeState(t(100), start, t(120))).toBe("late");
    expect(lifeState(t(120), start, t(120))).toBe("expired");
  });

  it("falls back to notBefore when the backdate would pass notAfter (a shorter TTL asked of a long role)", () => {
    expect(signedAt(t(0), t(60), 300)).toEqual(t(0));
  });

  it("states are ordered for any lifetime (property)", () => {
    const order = ["ok", "soon", "late", "expired"];
    for (let i = 0; i < 500; i++) {
      const life = 1 + Math.floor(Math.random() * 10_000_000);
      const nb = t(0);
      const na = t(life);
      let last = 0;
      for (const f of [0, 0.5, 0.7, 0.9, 1, 1.2]) {
        const s = order.indexOf(lifeState(t(life * f), nb, na));
        expect(s).toBeGreaterThanOrEqual(last);
        last = s;
      }
    }
  });

  it.each([
    ["no record", undefined, 0],
    ["obtained after the backdated notBefore", t(300), 300],
    ["recorded before notBefore", t(-3600), 0],
    ["recorded after notAfter (a clock that jumped)", t(31 * 3600), 0],
  ])("the holder's record of when it got it (%s) counts, inside the validity only", (_n, obtained, expected) => {
    expect((signedAt(t(0), t(30 * 3600), { obtainedAt: obtained }).getTime() - t(0).getTime()) / 1000).toBe(expected);
  });

  it("the holder's record wins over the role's backdate", () => {
    expect(signedAt(t(0), t(3600), { backdate: 300, obtainedAt: t(10) })).toEqual(t(10));
    expect(signedAt(t(0), t(3600), { backdate: 300 })).toEqual(t(300));
  });

  it.each([
    [0, "ok"],
    [20 * 3600 - 1, "ok"],
    [20 * 3600, "soon"],
    [24.99 * 3600, "soon"],
    [25 * 3600, "late"],
    [29 * 3600, "late"],
    [30 * 3600, "expired"],
  ] as const)("a 30h certificate %i s in is %s, and certLife names the points", (s, want) => {
    const life = certLife(t(0), t(30 * 3600));
    expect(life).toEqual({ signedAt: t(0), dueAt: t(20 * 3600), lateAt: t(25 * 3600), expiresAt: t(30 * 3600) });
    expect(stateOf(t(s), life)).toBe(want);
  });
});
