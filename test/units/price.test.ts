/** The run's bill at list prices (src/runs/price.ts): each line is its quantity times its named price. */
import { describe, expect, it } from "vitest";
import {
  estimateCost,
  QUEUE_USD_PER_MILLION_OPERATIONS,
  R2_CLASS_A_USD_PER_MILLION,
  SIMILARITY_NS_PER_MULTIPLY_ADD,
  WORKERS_CPU_USD_PER_MILLION_MS,
} from "../../src/runs/price";

describe("estimateCost", () => {
  it("prices a run line by line and sums the lines", () => {
    // One iteration at N = 1,000, K = 20 without pruning: 20,000 units, 1,250 messages of 16, 5 ms each, after a
    // k-means start of 210 blocks.
    const estimate = estimateCost({
      evaluatedUnits: 20_000,
      messages: 1_250 + 210,
      evaluationMs: 100_000,
      similarityMultiplyAdds: 1.3e11,
      iterations: 1,
      merges: 20,
      mergeMembers: 1_000,
      unitRows: 20_000,
      storedBytes: 4e6,
    });
    const usd = (item: string) => estimate.lines.find((l) => l.item.startsWith(item))!.usd;
    expect(usd("Workers CPU time (evaluation)")).toBeCloseTo((100_000 * WORKERS_CPU_USD_PER_MILLION_MS) / 1e6, 12);
    expect(usd("Workers CPU time (task similarity")).toBeCloseTo(
      (1.3e11 * SIMILARITY_NS_PER_MULTIPLY_ADD * 1e-6 * WORKERS_CPU_USD_PER_MILLION_MS) / 1e6,
      12,
    );
    expect(usd("Queue operations")).toBeCloseTo((3 * 1_460 * QUEUE_USD_PER_MILLION_OPERATIONS) / 1e6, 12);
    expect(usd("R2 Class A")).toBeCloseTo((2 * 20 * R2_CLASS_A_USD_PER_MILLION) / 1e6, 12);
    expect(estimate.usd).toBeCloseTo(
      estimate.lines.reduce((s, l) => s + l.usd, 0),
      12,
    );
    expect(estimate.pricesRead).toMatch(/^\d{4}-\d{2}-\d{2}$/);
  });

  it("costs nothing for a run that did nothing", () => {
    expect(
      estimateCost({
        evaluatedUnits: 0,
        messages: 0,
        evaluationMs: 0,
        similarityMultiplyAdds: 0,
        iterations: 0,
        merges: 0,
        mergeMembers: 0,
        unitRows: 0,
        storedBytes: 0,
      }).usd,
    ).toBe(0);
  });
});
