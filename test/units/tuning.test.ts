/**
 * The pure building blocks of tuned merges (src/tuning, issue 15): CMA-ES with a JSON state,
 * held-back folds of a few-shot set, restarts, merge-weight coordinates. Reference minima are
 * analytic (a shifted quadratic's centre; Rosenbrock's (1, 1)).
 */
import { describe, expect, it } from "vitest";
import type { MergeOptions } from "../../src/adapters/merge/options";
import {
  askClusterTuning,
  createClusterTuning,
  tellClusterTuning,
  type ClusterTuningState,
} from "../../src/tuning/cluster";
import { askCmaes, cmaesFinished, createCmaes, tellCmaes } from "../../src/tuning/cmaes";
import type { CmaesOptions, CmaesState } from "../../src/tuning/cmaes";
import { symmetricEigen } from "../../src/tuning/eigen";
import { clusterObjective, exampleFolds, foldObjective, subsetLoss, trainingExamples } from "../../src/tuning/folds";
import { keptRestart, lowestObjective, restartSeeds } from "../../src/tuning/restarts";
import { screenCandidates, screenedMethods } from "../../src/tuning/screen";
import { mergeWeights, scaledMergeWeights, weightCoordinates } from "../../src/tuning/weights";

const centre = [1, -2, 0.5, 3];
const quadratic = (x: number[]) => x.reduce((s, v, i) => s + (i + 1) * (v - centre[i]) ** 2, 0);
const rosenbrock = (x: number[]) => 100 * (x[1] - x[0] ** 2) ** 2 + (1 - x[0]) ** 2;

/** ask/evaluate/tell to the end of the budget; returns the final state (the run's loop, without its storage). */
async function minimizeCmaes(
  objective: (x: number[]) => number | Promise<number>,
  options: CmaesOptions,
): Promise<CmaesState> {
  let state = createCmaes(options);
  while (!cmaesFinished(state)) {
    const asked = askCmaes(state);
    const fitness: number[] = [];
    for (const x of asked.candidates) fitness.push(await objective(x));
    state = tellCmaes(asked.state, fitness);
  }
  return state;
}

/** ask/tell by hand, optionally through JSON after every `tell` (as a Durable Object stores it). */
function run(objective: (x: number[]) => number, options: CmaesOptions, viaJson: boolean): CmaesState {
  let state = createCmaes(options);
  while (!cmaesFinished(state)) {
    const asked = askCmaes(state);
    const next = tellCmaes(asked.state, asked.candidates.map(objective));
    state = viaJson ? (JSON.parse(JSON.stringify(next)) as CmaesState) : next;
  }
  return state;
}

describe("symmetricEigen", () => {
  it("finds the eigenpairs of [[2, 1], [1, 2]] (values 1 and 3)", () => {
    const { values } = symmetricEigen([
      [2, 1],
      [1, 2],
    ]);
    expect([...values].sort()).toEqual([expect.closeTo(1, 12), expect.closeTo(3, 12)]);
  });

  it("reconstructs a symmetric matrix as V diag(values) V^T", () => {
    const a = [
      [4, 1, -2, 0.5],
      [1, 3, 0, 1],
      [-2, 0, 5, 2],
      [0.5, 1, 2, 6],
    ];
    const { values, vectors } = symmetricEigen(a);
    for (let i = 0; i < 4; i++) {
      for (let j = 0; j < 4; j++) {
        const x = values.reduce((s, v, k) => s + vectors[i][k] * v * vectors[j][k], 0);
        expect(x).toBeCloseTo(a[i][j], 10);
      }
    }
  });

  it("refuses a matrix that is not square", () => {
    expect(() => symmetricEigen([[1, 2], [3]])).toThrow(/2 x 2/);
  });
});

describe("CMA-ES", () => {
  it("finds the centre of a shifted, scaled quadratic in 4-D within 600 evaluations", async () => {
    const state = await minimizeCmaes(quadratic, { x0: [0, 0, 0, 0], sigma0: 1, budget: 600, seed: 7 });
    expect(state.evaluations).toBe(600);
    expect(state.best!.f).toBeLessThan(1e-6);
    state.best!.x.forEach((v, i) => expect(v).toBeCloseTo(centre[i], 2));
  });

  it("finds Rosenbrock's minimum (1, 1) from (-1, 1) within 1500 evaluations", async () => {
    const state = await minimizeCmaes(rosenbrock, { x0: [-1, 1], sigma0: 0.5, budget: 1500, seed: 3 });
    expect(state.best!.f).toBeLessThan(1e-6);
    expect(state.best!.x[0]).toBeCloseTo(1, 2);
    expect(state.best!.x[1]).toBeCloseTo(1, 2);
  });

  it("is reproducible for a seed, and another seed asks other candidates", () => {
    const options = { x0: [0, 0, 0, 0], sigma0: 1, budget: 120, seed: 11 };
    expect(run(quadratic, options, false)).toEqual(run(quadratic, options, false));
    expect(askCmaes(createCmaes({ ...options, seed: 12 })).candidates).not.toEqual(
      askCmaes(createCmaes(options)).candidates,
    );
  });

  it("gives identical results when its state goes through JSON between every generation", () => {
    const options = { x0: [-1, 1], sigma0: 0.5, budget: 300, seed: 5 };
    const live = run(rosenbrock, options, false);
    const stored = run(rosenbrock, options, true);
    expect(stored).toEqual(live);
    expect(stored.best!.f).toBe(live.best!.f);
  });

  it("asks the pending candidates again until they are told (a re-sent round evaluates the same points)", () => {
    const first = askCmaes(createCmaes({ x0: [0, 0], sigma0: 1, budget: 20, seed: 1 }));
    const again = askCmaes(JSON.parse(JSON.stringify(first.state)) as CmaesState);
    expect(again.candidates).toEqual(first.candidates);
    expect(first.candidates).toHaveLength(first.state.populationSize);
  });

  it("cuts the last generation short to spend exactly the budget", () => {
    const state = run(quadratic, { x0: [0, 0, 0, 0], sigma0: 1, budget: 17, seed: 2, populationSize: 6 }, false);
    expect(state.evaluations).toBe(17);
    expect(state.generation).toBe(3);
    expect(askCmaes(state).candidates).toEqual([]);
  });

  it("refuses bad options and a tell that does not match the ask", () => {
    expect(() => createCmaes({ x0: [], sigma0: 1, budget: 10, seed: 0 })).toThrow(/at least one/);
    expect(() => createCmaes({ x0: [0], sigma0: 0, budget: 10, seed: 0 })).toThrow(/sigma0/);
    expect(() => createCmaes({ x0: [0], sigma0: 1, budget: 0, seed: 0 })).toThrow(/budget/);
    const state = createCmaes({ x0: [0, 0], sigma0: 1, budget: 10, seed: 0 });
    expect(() => tellCmaes(state, [1])).toThrow(/nothing was asked/);
    expect(() => tellCmaes(askCmaes(state).state, [1])).toThrow(/1 fitness values/);
  });

  it("treats a NaN fitness as the worst", () => {
    const asked = askCmaes(createCmaes({ x0: [0, 0], sigma0: 1, budget: 6, seed: 0 }));
    const told = tellCmaes(
      asked.state,
      asked.candidates.map((_, i) => (i === 0 ? NaN : i)),
    );
    expect(told.best!.x).toEqual(asked.candidates[1]);
  });
});

describe("exampleFolds", () => {
  it("partitions the examples into folds whose sizes differ by at most one", () => {
    for (const [count, folds] of [
      [10, 2],
      [10, 3],
      [10, 5],
      [10, 10],
      [7, 3],
    ]) {
      const split = exampleFolds(count, folds, 4);
      expect(split).toHaveLength(folds);
      expect(split.flat().sort((a, b) => a - b)).toEqual(Array.from({ length: count }, (_, i) => i));
      const sizes = split.map((f) => f.length);
      expect(Math.max(...sizes) - Math.min(...sizes)).toBeLessThanOrEqual(1);
      split.forEach((f) => expect(f).toEqual([...f].sort((a, b) => a - b)));
    }
  });

  it("is deterministic for a seed and shuffles by it", () => {
    expect(exampleFolds(10, 5, 9)).toEqual(exampleFolds(10, 5, 9));
    expect(exampleFolds(10, 5, 9)).not.toEqual(exampleFolds(10, 5, 10));
  });

  it("trains a fold on exactly the other folds' examples", () => {
    const split = exampleFolds(10, 3, 0);
    split.forEach((held, f) => {
      const train = trainingExamples(split, f);
      expect(train.length + held.length).toBe(10);
      expect(train.some((e) => held.includes(e))).toBe(false);
    });
  });

  it("refuses folds outside 2..count", () => {
    expect(() => exampleFolds(10, 1, 0)).toThrow(/2\.\.10/);
    expect(() => exampleFolds(3, 4, 0)).toThrow(/2\.\.3/);
  });
});

describe("fold losses and the cluster objective", () => {
  it("means per-example losses over a subset", () => {
    expect(subsetLoss([1, 2, 3, 4], [0, 3])).toBe(2.5);
    expect(() => subsetLoss([1, 2], [2])).toThrow(/outside/);
  });

  it("scores a cluster on a fold's training or held-back examples", () => {
    const losses = [
      [1, 2, 3, 4],
      [10, 20, 30, 40],
    ];
    const folds = [
      [
        [0, 1],
        [2, 3],
      ],
      [
        [0, 3],
        [1, 2],
      ],
    ];
    expect(foldObjective(losses, folds, 0, "heldBack")).toBe((1.5 + 25) / 2);
    expect(foldObjective(losses, folds, 0, "train")).toBe((3.5 + 25) / 2);
    expect(foldObjective(losses, folds, 1, "heldBack", 1)).toBe((3.5 + 25) / 2 + 25);
    expect(() => foldObjective(losses, [folds[0]], 0, "train")).toThrow(/2 members' losses/);
  });

  it("is the members' mean, plus a penalty on the worst member", () => {
    expect(clusterObjective([1, 2, 3])).toBe(2);
    expect(clusterObjective([1, 2, 3], 0.5)).toBe(3.5);
  });
});

describe("restarts", () => {
  it("starts from the run's own seed, then distinct seeds", () => {
    const seeds = restartSeeds(3, 8);
    expect(seeds[0]).toBe(3);
    expect(new Set(seeds).size).toBe(8);
    seeds.forEach((s) => expect(s >= 0 && s < 2 ** 32 && Number.isInteger(s)).toBe(true));
    expect(restartSeeds(3, 2)).toEqual(seeds.slice(0, 2));
  });

  it("keeps the run with the lowest J, the first of equals", () => {
    expect(lowestObjective([{ objective: 0.6 }, { objective: 0.5 }, { objective: 0.5 }])).toBe(1);
  });

  it("keeps the highest few-shot exact match under the exactMatch criterion, J breaking ties", () => {
    const runs = [
      { objective: 0.5, fewShotExactMatch: 0.2 },
      { objective: 0.6, fewShotExactMatch: 0.3 },
      { objective: 0.55, fewShotExactMatch: 0.3 },
    ];
    expect(keptRestart(runs, "exactMatch")).toBe(2);
    expect(keptRestart(runs, "loss")).toBe(0);
  });
});

describe("merge weights", () => {
  it("maps x = 0 to uniform weights and back", () => {
    expect(mergeWeights([0, 0, 0, 0])).toEqual([0.25, 0.25, 0.25, 0.25]);
    const w = [0.1, 0.5, 0.9];
    mergeWeights(weightCoordinates(w)).forEach((v, i) => expect(v).toBeCloseTo(w[i], 12));
  });

  it("puts a shared log scale first in scaledMergeWeights", () => {
    scaledMergeWeights([Math.log(1.5), 0, 0]).forEach((v) => expect(v).toBeCloseTo(0.75, 12));
    scaledMergeWeights([0, Math.log(2), 0]).forEach((v, i) => expect(v).toBeCloseTo([1, 0.5][i], 12));
    expect(() => scaledMergeWeights([0])).toThrow(/at least one member/);
  });
});

describe("screened merges", () => {
  it("lists svd first, then each pruning method at each density (DARE seeded)", () => {
    const methods = screenedMethods({ method: "svd", rank: 8 }, [0.3, 0.7], 5);
    expect(methods.map((m) => `${m.method}@${m.density ?? "-"}`)).toEqual([
      "svd@-",
      "ties_svd@0.3",
      "ties_svd@0.7",
      "dare_ties_svd@0.3",
      "dare_ties_svd@0.7",
      "magnitude_prune_svd@0.3",
      "magnitude_prune_svd@0.7",
    ]);
    expect(methods[3]).toEqual({ method: "dare_ties_svd", rank: 8, density: 0.3, seed: 5 });
  });

  it("scales uniform weights, from 1/n for summing merges and 1 for TIES's disjoint mean", () => {
    const candidates = screenCandidates([{ method: "svd" }, { method: "ties_svd", density: 0.5 }], [1, 1.5], 4);
    expect(candidates.map((c) => c.weights)).toEqual([
      [0.25, 0.25, 0.25, 0.25],
      [0.375, 0.375, 0.375, 0.375],
      [1, 1, 1, 1],
      [1.5, 1.5, 1.5, 1.5],
    ]);
    expect(() => screenCandidates([{ method: "svd" }], [0], 2)).toThrow(/not positive/);
  });
});

describe("cluster tuning (ask/tell)", () => {
  const members = [3, 7, 9];
  const exampleCounts = [10, 10, 10];
  const candidates = screenCandidates([{ method: "svd", rank: 8 }], [1, 1.5, 2], 3);
  const options = {
    members,
    exampleCounts,
    candidates,
    folds: 2,
    budget: 30,
    sigma0: 1,
    penalty: 0,
    scaleCoordinate: true,
    seed: 4,
  };
  /**
   * A synthetic world: member i's loss is least at weights (0.6, 0.4, 0.2) (sum 1.2), plus a fixed per-example offset.
   */
  const target = [0.6, 0.4, 0.2];
  const lossesOf = (merge: MergeOptions) =>
    members.map((_, i) =>
      Array.from(
        { length: 10 },
        (_, e) => 0.1 * e + merge.weights!.reduce((s, w, j) => s + (j === i ? 4 : 1) * (w - target[j]) ** 2, 0),
      ),
    );

  function drive(losses: (merge: MergeOptions) => number[][], viaJson: boolean): ClusterTuningState {
    let state = createClusterTuning(options);
    let rounds = 0;
    while (state.phase !== "done") {
      const asked = askClusterTuning(state);
      const next = tellClusterTuning(asked.state, asked.merges.map(losses));
      state = viaJson ? (JSON.parse(JSON.stringify(next)) as ClusterTuningState) : next;
      if (++rounds > 100) throw new Error("tuning does not end");
    }
    return state;
  }

  it("screens, tunes per fold and keeps weights that beat the screened start on held-back examples", () => {
    const state = drive(lossesOf, false);
    // Squared distances to the target: uniform 1/3 each 0.093, x 1.5 0.11, x 2 0.67.
    expect(state.chosen).toBe(0);
    expect(state.result!.weightsKept).toBe(true);
    expect(state.heldBackTuned).toBeLessThan(state.heldBackStart);
    const mean = (w: readonly number[]) =>
      lossesOf({ method: "svd", weights: w })
        .flat()
        .reduce((a, b) => a + b, 0);
    expect(mean(state.result!.merge.weights!)).toBeLessThan(mean(candidates[0].weights!));
    expect(state.result!.merge).toMatchObject({ method: "svd", rank: 8 });
  });

  it("is reproducible and survives JSON between every round", () => {
    expect(drive(lossesOf, true)).toEqual(drive(lossesOf, false));
  });

  it("keeps the screened merge when tuning cannot help (losses that ignore the weights)", () => {
    const flat = () => members.map(() => Array.from({ length: 10 }, (_, e) => e));
    const state = drive(flat, false);
    expect(state.result).toEqual({ merge: candidates[0], weightsKept: false });
  });

  it("stops after the screen with budget 0, and asks nothing more when done", () => {
    let state = createClusterTuning({ ...options, budget: 0 });
    const asked = askClusterTuning(state);
    expect(asked.merges).toHaveLength(3);
    state = tellClusterTuning(asked.state, asked.merges.map(lossesOf));
    expect(state.phase).toBe("done");
    expect(state.result!.merge).toEqual(candidates[0]);
    expect(askClusterTuning(state).merges).toEqual([]);
  });

  it("refuses losses of the wrong shape", () => {
    const asked = askClusterTuning(createClusterTuning(options));
    expect(() => tellClusterTuning(asked.state, asked.merges.slice(1).map(lossesOf))).toThrow(
      /2 merges told, 3 screened/,
    );
    expect(() =>
      tellClusterTuning(
        asked.state,
        asked.merges.map(() => [[1], [1], [1]]),
      ),
    ).toThrow(/1 losses, expected 10/);
    expect(() => createClusterTuning({ ...options, members: [1] })).toThrow(/1 members for 3/);
  });
});
