import { describe, expect, it } from "vitest";
import { mapLimit } from "../../src/common/async.js";

const tick = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("mapLimit (bounded concurrency)", () => {
  it("keeps the input order and never runs more than the limit at once", async () => {
    let running = 0;
    let peak = 0;
    const out = await mapLimit([5, 1, 4, 2, 3, 1, 1], 3, async (n, i) => {
      peak = Math.max(peak, ++running);
      await tick(n * 2);
      running--;
      return `${i}:${n * 10}`;
    });
    expect(out).toEqual(["0:50", "1:10", "2:40", "3:20", "4:30", "5:10", "6:10"]);
    expect(peak).toBe(3);
  });

  it("uses the whole limit when there is enough work", async () => {
    let running = 0;
    let peak = 0;
    await mapLimit(Array.from({ length: 40 }, (_, i) => i), 16, async () => {
      peak = Math.max(peak, ++running);
      await tick(1);
      running--;
    });
    expect(peak).toBe(16);
  });

  it("starts nothing after a failure and rejects with the first error once the items in flight settled", async () => {
    const started: number[] = [];
    const finished: number[] = [];
    const run = mapLimit([0, 1, 2, 3, 4, 5, 6, 7], 2, async (n) => {
      started.push(n);
      if (n === 1) {
        await tick(1);
        throw new Error("item 1 failed");
      }
      if (n === 2) throw new Error("item 2 failed too");
      await tick(10);
      finished.push(n);
      return n;
    });
    await expect(run).rejects.toThrow("item 1 failed");
    // 0 was in flight when 1 failed: it finished before the rejection; 2.. were never started.
    expect(started).toEqual([0, 1]);
    expect(finished).toEqual([0]);
  });

  it("an empty list is an empty result", async () => {
    expect(await mapLimit([], 4, async () => 1)).toEqual([]);
  });
});
