/** The resumable merge tuner (src/tuning/clusterTuner.ts) on a synthetic loss: no model, exact arithmetic. */
import { describe, expect, it } from "vitest";
import { answerTuner, pendingCandidates, startTuner, type MemberLosses, type TunerSettings, type TunerState } from "../../src/tuning/clusterTuner";

const SETTINGS: TunerSettings = {
  budget: 24, folds: 2, penalty: 0, sigma0: 0.5, seed: 3,
  methods: [{ method: "svd", rank: 8 }, { method: "ties_svd", rank: 8, density: 0.5 }],
};

/**
 * Member i's example e loses (n w_i - target_i)^2 + a small example-specific offset, and the
 * ties_svd merge costs 0.1 more: tuned weights near the targets win, svd is screened in.
 */
function losses(merge: { method: string; weights?: readonly number[] }): MemberLosses {
  const targets = [1.6, 0.7, 0.7];
  const w = merge.weights!;
  return targets.map((target, i) => Array.from({ length: 10 }, (_, e) =>
    (w.length * w[i] - target) ** 2 + 0.01 * ((e * 7 + i) % 5) + (merge.method === "ties_svd" ? 0.1 : 0)));
}

function drive(state: TunerState, roundTrip = false): { state: TunerState; rounds: number } {
  let rounds = 0;
  while (state.stage !== "done") {
    const batch = pendingCandidates(state);
    state = answerTuner(state, Object.fromEntries(batch.map((c) => [c.key, losses(c.merge)])));
    if (roundTrip) state = JSON.parse(JSON.stringify(state)) as TunerState;
    rounds++;
  }
  return { state, rounds };
}

describe("the cluster tuner", () => {
  it("screens the methods, tunes the weights per fold, and keeps them when they win on held-back examples", () => {
    const { state, rounds } = drive(startTuner(SETTINGS, [4, 9, 17], [10, 10, 10]));
    const result = state.result!;
    expect(result.merge.method).toBe("svd");
    expect(result.weightsKept).toBe(true);
    expect(result.heldBackTuned).toBeLessThan(result.heldBackUniform);
    // The kept weights moved from uniform (1/3 each) toward the targets / 3.
    expect(result.merge.weights![0]).toBeGreaterThan(1 / 3);
    expect(result.merge.weights![1]).toBeLessThan(1 / 3);
    // 2 screened + 2 folds x 24 CMA-ES candidates + 2 held-back checks, in a few batches.
    expect(result.candidates).toBe(2 + 2 * 24 + 2);
    expect(rounds).toBeLessThan(15);
  });

  it("is reproducible for a seed and resumes from its JSON state between rounds", () => {
    const a = drive(startTuner(SETTINGS, [4, 9, 17], [10, 10, 10])).state.result;
    const b = drive(startTuner(SETTINGS, [4, 9, 17], [10, 10, 10]), true).state.result;
    expect(b).toEqual(a);
    const other = drive(startTuner({ ...SETTINGS, seed: 4 }, [4, 9, 17], [10, 10, 10])).state.result;
    expect(other!.merge.weights).not.toEqual(a!.merge.weights);
  });

  it("keeps uniform weights when tuning does not help on held-back examples, and ignores answers not asked", () => {
    const flat = (merge: { method: string }) => [0, 1].map((i) => Array.from({ length: 10 }, (_, e) => 0.5 + 0.01 * ((e + i) % 3) + (merge.method === "svd" ? 0 : 1)));
    let state = startTuner({ ...SETTINGS, budget: 6 }, [1, 2], [10, 10]);
    state = answerTuner(state, { "not-asked": [[1], [1]] });
    expect(state.evaluated).toBe(0);
    while (state.stage !== "done") state = answerTuner(state, Object.fromEntries(pendingCandidates(state).map((c) => [c.key, flat(c.merge)])));
    expect(state.result).toMatchObject({ weightsKept: false, merge: { method: "svd", weights: [0.5, 0.5] } });
    expect(() => startTuner(SETTINGS, [1], [10])).toThrow(/nothing to tune/);
  });
});
