import { describe, expect, it } from "vitest";
import { summarize, type Sample } from "../../src/ha/probe.js";

const s = (start: number, ok: boolean, latency = 5, server = "a", error = "boom"): Sample => ({ start, end: start + latency, ok, ...(ok ? { server } : { error }) });

describe("summarize (what the HA client saw in a phase)", () => {
  it("nothing failed: recovery 0, share 0, answers per backend", () => {
    const r = summarize([s(0, true), s(100, true, 5, "b"), s(200, true)], 0);
    expect(r).toMatchObject({ total: 3, failed: 0, share: 0, recoveryMs: 0, outageMs: 0, servers: { a: 2, b: 1 } });
  });
  it("recovery ends with the first success sent after the last failure, measured from the phase start", () => {
    // A slow failure (timeout) sent at 300 ends at 2300; the success sent at 400 came back at 405 but
    // is before the last failure (sent at 500), so it does not count.
    const r = summarize([s(100, false), s(300, false, 2000), s(400, true), s(500, false), s(600, true, 7), s(700, true)], 50);
    expect(r.failed).toBe(3);
    expect(r.total).toBe(6);
    expect(r.share).toBe(0.5);
    expect(r.recoveryMs).toBe(557);
    // The client was not served from the first failure (sent at 100) to that same end.
    expect(r.outageMs).toBe(507);
  });
  it("no success after the last failure: not recovered (undefined)", () => {
    expect(summarize([s(0, true), s(100, false)], 0)).toMatchObject({ recoveryMs: undefined, outageMs: undefined });
  });
  it("only requests sent inside [from, to) count; addresses in errors fold together", () => {
    const r = summarize([s(0, false, 5, "a", "connect ECONNREFUSED 10.0.0.1:6443"), s(100, false, 5, "a", "connect ECONNREFUSED 10.0.0.1:6444"), s(200, false)], 50, 200);
    expect(r.total).toBe(1);
    expect(r.errors).toEqual({ "connect ECONNREFUSED ADDR": 1 });
  });
  it("an empty phase has share 0, not NaN", () => {
    expect(summarize([], 0).share).toBe(0);
  });
});
