/**
 * One cluster's merge tuning as an ask/tell state machine over a plain JSON state, so the
 * ClusterRun Durable Object can fan each round out over the Queue and the offline experiment
 * runs the same rule (bench/experiment/tuning.ts). Rounds:
 *   1. screen: every fixed candidate (screenCandidates) on every few-shot example; the lowest
 *      objective is the start (no parameter fitted, so all examples may judge it).
 *   2. per held-back fold f: CMA-ES from the start on the other folds' examples; its best
 *      candidate (or the start, if CMA-ES found nothing better there) is judged on fold f.
 *   3. the tuned weights (mean of the folds' solutions, in log coordinates) are kept only when
 *      they beat the start on the held-back folds (mean over folds); else the start ships.
 * The held-out split is never asked for. A round asks for merges; the caller answers with each
 * merge's per-member, per-example few-shot losses (NLL), in ask order.
 */
import type { MergeOptions } from "../adapters/merge/options";
import { askCmaes, cmaesFinished, createCmaes, tellCmaes, type CmaesState } from "./cmaes";
import { clusterObjective, exampleFolds, foldObjective, subsetLoss } from "./folds";
import { mergeWeights, scaledMergeWeights } from "./weights";

export interface ClusterTuningOptions {
  /**
   * The members' task indices in the run, sorted: each task's folds are seeded by its own index, whatever its cluster.
   */
  readonly members: readonly number[];
  /** Few-shot examples of each member, in member order (the order of the merge weights). */
  readonly exampleCounts: readonly number[];
  /** The screened merges (screenCandidates); the first is the untuned merge. */
  readonly candidates: readonly MergeOptions[];
  /** Held-back folds of each member's examples (2..min(exampleCounts)). */
  readonly folds: number;
  /** CMA-ES candidate evaluations per fold (each is one merge, scored on every member); 0 stops after the screen. */
  readonly budget: number;
  /** CMA-ES initial step in log-weight units. */
  readonly sigma0: number;
  /** Weight of the worst member's loss in the objective (clusterObjective). */
  readonly penalty: number;
  /** Coordinates [log scale, per-member log weights] (scaledMergeWeights) instead of per-member log weights. */
  readonly scaleCoordinate: boolean;
  /** Folds and CMA-ES draws. */
  readonly seed: number;
}

/** Per merge, per member, per example. */
export type MemberLosses = readonly (readonly number[])[];

export interface ClusterTuningState {
  readonly kind: "clusterTuning";
  readonly version: 1;
  readonly options: ClusterTuningOptions;
  readonly phase: "screen" | "folds" | "done";
  readonly memberFolds: number[][][];
  /** Objective of each screened candidate on every example (after the screen). */
  readonly screen: number[];
  /** Index of the chosen candidate, its losses (the "start") and its coordinates. */
  readonly chosen: number;
  readonly startLosses: number[][];
  readonly x0: number[];
  readonly fold: number;
  readonly cmaes: CmaesState | null;
  /** Losses of the current fold's best candidate so far (its held-back judge needs them). */
  readonly bestLosses: number[][] | null;
  readonly solutions: number[][];
  readonly heldBackStart: number;
  readonly heldBackTuned: number;
  /** Set when done: the merge to ship and whether tuned weights beat the start. */
  readonly result: { readonly merge: MergeOptions; readonly weightsKept: boolean } | null;
}

export function createClusterTuning(options: ClusterTuningOptions): ClusterTuningState {
  const n = options.exampleCounts.length;
  if (n < 1) throw new RangeError("a cluster needs at least one member");
  if (options.members.length !== n) throw new RangeError(`${options.members.length} members for ${n} example counts`);
  if (options.candidates.length === 0) throw new RangeError("no screened candidates");
  options.candidates.forEach((c, i) => {
    if (c.weights?.length !== n)
      throw new RangeError(`candidate ${i} has ${c.weights?.length ?? "no"} weights for ${n} members`);
  });
  if (!Number.isInteger(options.budget) || options.budget < 0)
    throw new RangeError(`budget must be a non-negative integer, got ${options.budget}`);
  const memberFolds = options.exampleCounts.map((count, i) =>
    exampleFolds(count, options.folds, (options.seed + options.members[i]) >>> 0),
  );
  return {
    kind: "clusterTuning",
    version: 1,
    options,
    phase: "screen",
    memberFolds,
    screen: [],
    chosen: 0,
    startLosses: [],
    x0: [],
    fold: 0,
    cmaes: null,
    bestLosses: null,
    solutions: [],
    heldBackStart: 0,
    heldBackTuned: 0,
    result: null,
  };
}

/** Merges whose losses the next tell needs (empty when done). Idempotent until told. */
export function askClusterTuning(state: ClusterTuningState): { state: ClusterTuningState; merges: MergeOptions[] } {
  if (state.phase === "done") return { state, merges: [] };
  if (state.phase === "screen") return { state, merges: [...state.options.candidates] };
  const asked = askCmaes(state.cmaes!);
  return { state: { ...state, cmaes: asked.state }, merges: asked.candidates.map((x) => mergeOf(state, x)) };
}

export function tellClusterTuning(state: ClusterTuningState, losses: readonly MemberLosses[]): ClusterTuningState {
  const { options } = state;
  const n = options.exampleCounts.length;
  losses.forEach((merge, i) => {
    if (merge.length !== n) throw new RangeError(`merge ${i}: losses of ${merge.length} members, expected ${n}`);
    merge.forEach((l, m) => {
      if (l.length !== options.exampleCounts[m])
        throw new RangeError(`merge ${i}, member ${m}: ${l.length} losses, expected ${options.exampleCounts[m]}`);
    });
  });
  if (state.phase === "done") throw new RangeError("tellClusterTuning: tuning is done");
  if (state.phase === "screen") {
    if (losses.length !== options.candidates.length)
      throw new RangeError(`${losses.length} merges told, ${options.candidates.length} screened`);
    const screen = losses.map((merge) =>
      clusterObjective(
        merge.map((l) =>
          subsetLoss(
            l,
            l.map((_, e) => e),
          ),
        ),
        options.penalty,
      ),
    );
    let chosen = 0;
    screen.forEach((j, i) => (j < screen[chosen] ? (chosen = i) : 0));
    const start = options.candidates[chosen].weights!;
    const x0 = options.scaleCoordinate
      ? [Math.log(start[0] * n), ...start.map((w) => Math.log(w / start[0]))]
      : start.map((w) => Math.log(w * n));
    const next = { ...state, screen, chosen, startLosses: losses[chosen].map((l) => [...l]), x0 };
    if (options.budget === 0 || n < 2) return finish(next, false);
    return { ...next, phase: "folds", cmaes: newFold(next, 0) };
  }
  // A fold's CMA-ES generation.
  const cmaes = state.cmaes!;
  const fitness = losses.map((merge) => foldObjective(merge, state.memberFolds, state.fold, "train", options.penalty));
  // The losses of CMA-ES's best candidate, found by the same rule tellCmaes uses (first of equals, NaN worst).
  let bestLosses = state.bestLosses;
  let bestF = cmaes.best?.f ?? null;
  fitness.forEach((raw, i) => {
    const f = Number.isNaN(raw) ? Infinity : raw;
    if (bestF === null || f < bestF) [bestF, bestLosses] = [f, losses[i].map((l) => [...l])];
  });
  const told = tellCmaes(cmaes, fitness);
  if (!cmaesFinished(told)) return { ...state, cmaes: told, bestLosses };

  const f = state.fold;
  const startTrain = foldObjective(state.startLosses, state.memberFolds, f, "train", options.penalty);
  const improved = told.best!.f < startTrain;
  const x = improved ? told.best!.x : state.x0;
  const judged = improved ? bestLosses! : state.startLosses;
  const next = {
    ...state,
    cmaes: told,
    bestLosses: null,
    solutions: [...state.solutions, [...x]],
    heldBackStart:
      state.heldBackStart +
      foldObjective(state.startLosses, state.memberFolds, f, "heldBack", options.penalty) / options.folds,
    heldBackTuned:
      state.heldBackTuned + foldObjective(judged, state.memberFolds, f, "heldBack", options.penalty) / options.folds,
  };
  if (f + 1 < options.folds) return { ...next, fold: f + 1, cmaes: newFold(next, f + 1) };
  return finish(next, next.heldBackTuned < next.heldBackStart);
}

function newFold(state: ClusterTuningState, fold: number): CmaesState {
  const o = state.options;
  return createCmaes({ x0: state.x0, sigma0: o.sigma0, budget: o.budget, seed: (o.seed * 31 + fold) >>> 0 });
}

function mergeOf(state: ClusterTuningState, x: readonly number[]): MergeOptions {
  const { weights: _start, ...method } = state.options.candidates[state.chosen];
  return { ...method, weights: (state.options.scaleCoordinate ? scaledMergeWeights : mergeWeights)(x) };
}

function finish(state: ClusterTuningState, weightsKept: boolean): ClusterTuningState {
  const start = state.options.candidates[state.chosen];
  const x = state.x0.map((_, d) => state.solutions.reduce((s, sol) => s + sol[d], 0) / state.solutions.length);
  return {
    ...state,
    phase: "done",
    cmaes: null,
    result: { merge: weightsKept ? mergeOf(state, x) : start, weightsKept },
  };
}
