/** The run's bill at list prices (src/runs/price.ts): each line is its quantity times its named price. */
import { describe, expect, it } from "vitest";
import { estimateCost, QUEUE_USD_PER_MILLION_OPERATIONS, R2_CLASS_A_USD_PER_MILLION, WORKERS_CPU_USD_PER_MILLION_MS } from "../../src/runs/price";

describe("estimateCost", () => {
  it("prices a run line by line and sums the lines", () => {
    // One iteration at N = 1,000, K = 20 without pruning: 20,000 units, each sent once, 5 ms each.
    const estimate = estimateCost({
      evaluatedUnits: 20_000, messages: 20_000, evaluationMs: 100_000, iterations: 1, merges: 20, mergeMembers: 1_000, unitRows: 20_000, storedBytes: 4e6,
    });
    const usd = (item: string) => estimate.lines.find((l) => l.item.startsWith(item))!.usd;
    expect(usd("Workers CPU")).toBeCloseTo((100_000 * WORKERS_CPU_USD_PER_MILLION_MS) / 1e6, 12);
    expect(usd("Queue operations")).toBeCloseTo((3 * 20_000 * QUEUE_USD_PER_MILLION_OPERATIONS) / 1e6, 12);
    expect(usd("R2 Class A")).toBeCloseTo((2 * 20 * R2_CLASS_A_USD_PER_MILLION) / 1e6, 12);
    expect(estimate.usd).toBeCloseTo(estimate.lines.reduce((s, l) => s + l.usd, 0), 12);
    expect(estimate.pricesRead).toMatch(/^\d{4}-\d{2}-\d{2}$/);
  });

  it("costs nothing for a run that did nothing", () => {
    expect(estimateCost({ evaluatedUnits: 0, messages: 0, evaluationMs: 0, iterations: 0, merges: 0, mergeMembers: 0, unitRows: 0, storedBytes: 0 }).usd).toBe(0);
  });
});
