/** How `d2c-edge status` counts the tasks an iteration moved (no Worker needed). */
import { describe, expect, it } from "vitest";
import { describeTuned, movedTasks } from "../../cli/status.ts";

describe("movedTasks", () => {
  it("does not count a relabelling of the same clusters (the server renumbers them canonically)", () => {
    expect(movedTasks([0, 0, 1, 1, 2], [0, 0, 1, 1, 2])).toBe(0);
    expect(movedTasks([0, 0, 1, 1, 2], [2, 2, 0, 0, 1])).toBe(0);
  });

  it("counts each task that left the cluster it was in, once", () => {
    expect(movedTasks([0, 0, 0, 1, 1], [0, 0, 1, 1, 1])).toBe(1);
    expect(movedTasks([0, 0, 0, 1, 1], [1, 1, 0, 0, 0])).toBe(1); // the same move, relabelled
    expect(movedTasks([0, 0, 1, 1], [0, 1, 0, 1])).toBe(2);
  });
});

describe("describeTuned", () => {
  const base = { merge: { method: "svd" as const }, heldBackScreened: 0.3143, heldBackTuned: 0.3201, candidates: 53 };

  it("names the screened scale when CMA-ES's weights lost on held-back examples, and the weights when they won", () => {
    expect(describeTuned({ ...base, weights: [0.375, 0.375, 0.375, 0.375], weightsKept: false })).toBe(
      "tuned: svd, uniform weights x 1.5 (held-back loss 0.3143 screened, 0.3201 with CMA-ES's weights; 53 candidates)",
    );
    expect(describeTuned({ ...base, heldBackTuned: 0.3, weights: [0.5, 0.25], weightsKept: true })).toBe(
      "tuned: svd, tuned weights 0.500 0.250 (held-back loss 0.3143 screened, 0.3000 with CMA-ES's weights; " +
        "53 candidates)",
    );
    // TIES's disjoint mean starts from weights 1, not 1/n.
    expect(
      describeTuned({
        ...base,
        merge: { method: "ties_svd", density: 0.5 },
        weights: [1.25, 1.25],
        weightsKept: false,
      }),
    ).toContain("ties_svd density 0.5, uniform weights x 1.25");
  });
});
