/**
 * D2C in one process (the offline experiment, bench/): the policy of policy.ts driven with
 * losses from an evaluate function. The ClusterRun Durable Object drives the same policy with
 * losses from queue units, one phase per alarm.
 */
import { clustersOf, type Assignment } from "./assignment";
import { bestIteration, type Iteration } from "./d2c";
import {
  plan,
  startState,
  step,
  trajectoryBests,
  type Measured,
  type PolicySettings,
  type RankingKind,
} from "./policy";
import type { PruneSettings } from "./pruned";

export interface D2CRunOptions {
  readonly n: number;
  readonly k: number;
  /** The starting assignment (k-means on task vectors in D2C). */
  readonly start: Assignment;
  /**
   * Few-shot loss of `task` under the merge of `members` (sorted task indices), asked by the run's
   * iteration `iteration` (an index into its iterations).
   */
  readonly evaluate: (members: readonly number[], task: number, iteration: number) => number | Promise<number>;
  /** Assignments evaluated at most per trajectory (widened to a full sweep, an iteration is still one). */
  readonly maxIterations: number;
  /** null: the full schedule (every task under every cluster every iteration). */
  readonly prune: PruneSettings | null;
  /** Cosine similarities of the task vectors (n x n), for the fallback ranking and the restarts' k-means. */
  readonly similarity: Float64Array;
  /** See `RankingKind`; default "stale". */
  readonly ranking?: RankingKind;
  /** Seeded starts after `start` (the later ones k-means with `restartSeeds(seed, restarts)`); default 1. */
  readonly restarts?: number;
  readonly seed?: number;
}

export interface D2CIteration extends Iteration {
  /** Whether every task was evaluated under every cluster in this iteration. */
  readonly full: boolean;
  /** Task x cluster evaluations asked for (before any cache). */
  readonly evaluations: number;
  /** The trajectory (0: the run's own start). */
  readonly restart: number;
}

export interface D2CRun {
  /** The assignment with the best J seen, over every trajectory (`bests` has each one's). */
  readonly assignment: Assignment;
  readonly iterations: readonly D2CIteration[];
  /** True when the (last) trajectory ended on a full sweep that moved nothing (not on maxIterations). */
  readonly fixedPoint: boolean;
  /** Each trajectory's best iteration, by restart (indices into `iterations`). */
  readonly bests: readonly number[];
  /** Each trajectory's fixedPoint, by restart. */
  readonly fixedPoints: readonly boolean[];
}

/** D2C, pruned or full, from `start` to a full-sweep fixed point or maxIterations, then each restart likewise. */
export async function runD2C(options: D2CRunOptions): Promise<D2CRun> {
  const { n, k, evaluate, similarity } = options;
  const settings: PolicySettings = {
    n,
    k,
    prune: options.prune,
    maxIterations: options.maxIterations,
    ranking: options.ranking,
    restarts: options.restarts,
    seed: options.seed,
  };
  const iterations: D2CIteration[] = [];
  const fixedPoints: boolean[] = [];
  let earlier: Measured[] = [];
  let state = startState(settings, options.start, true);
  for (;;) {
    const clusters = clustersOf(state.assignment, k);
    const losses: number[][] = Array.from({ length: n }, () => new Array<number>(k).fill(NaN));
    let evaluations = 0;
    let next = null;
    while (next === null) {
      for (const [t, c] of plan(settings, state, earlier, similarity, losses)) {
        losses[t][c] = await evaluate(clusters[c], t, iterations.length);
        evaluations++;
      }
      const s = step(settings, state, losses, similarity);
      if (s.decision === "widen") state = s.state;
      else next = s;
    }
    iterations.push({ ...next.scored, full: state.full, evaluations, restart: state.restart });
    earlier.push({ clusters, losses });
    if (next.decision === "next") {
      state = next.state;
      continue;
    }
    fixedPoints.push(next.fixedPoint);
    if (next.decision === "done") break;
    // Only the trajectory's own iterations rank a restart's, as a run from its start would.
    earlier = [];
    state = next.state;
  }
  const { assignment } = iterations[bestIteration(iterations)];
  return { assignment, iterations, fixedPoint: fixedPoints.at(-1)!, bests: trajectoryBests(iterations), fixedPoints };
}
