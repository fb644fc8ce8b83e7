/**
 * Pruned D2C (issue 12): each iteration evaluates a task only under its own cluster and its `m`
 * most promising other clusters; an iteration that moves nothing is widened to a full sweep
 * (every task under every cluster) before the run may stop, so a pruned run ends at a true D2C
 * fixed point: no task prefers another cluster under a full evaluation.
 *
 * Pure, like d2c.ts: the offline experiment and the ClusterRun Durable Object can run it alike.
 * A run's loop:
 *   candidates = candidateClusters(assignment, k, ranking, settings, full)
 *   losses[t][c] = evaluate where c in candidates[t], NaN elsewhere
 *   next = reassignPartial(losses, assignment)
 *   if next equals assignment: stop when `full`, else evaluate the same assignment again with full = true
 */
import { clustersOf, sameAssignment, type Assignment } from "./assignment";
import { bestIteration, objective, reassign, type Iteration, type LossMatrix } from "./d2c";

export interface PruneSettings {
  /**
   * Other clusters a task is evaluated under each pruned iteration, besides its own. Default 2:
   * on the reference world (N = 40, K = 10 and 20, seed 0) m = 1 ended at worse J, m = 3 and 5
   * cost more passes for no better J (`npm run bench:scale -- --ns 40 --m M`); held-out exact
   * match against the full schedule in docs/results.md, passes against N in docs/scale.md.
   */
  readonly m: number;
  /**
   * Evaluate the first iteration in full (nothing is known of the k-means start's losses yet).
   * Default: `fullFirstByDefault`.
   */
  readonly fullFirst?: boolean;
}

/**
 * Small clusters get a full first iteration: where clusters average 4 tasks or fewer (N <= 4K),
 * one member moving changes a merge a lot and the similarity ranking of the k-means start
 * missed the moves that matter. Measured on the reference world (N = 40, K = 20, seed 0): a
 * pruned first iteration ended at a fixed point 8.5% worse in J (held-out exact match 43.2
 * against 44.0, mean of 3 seeds); a full one matched full D2C's J. Where clusters are larger
 * (N = 40, K = 5; N = 200, K = 5 and 20) a pruned first iteration reached full D2C's J or
 * within 0.4%, and a full one cost more and ended 0.6-12% worse (bench/scale.ts --full-first).
 */
export function fullFirstByDefault(n: number, k: number): boolean {
  return n <= 4 * k;
}

export const DEFAULT_PRUNE: PruneSettings = { m: 2 };

/**
 * How promising cluster `cluster` is for task `task`: lower is more promising (a loss, or a
 * loss-like score such as 1 - similarity).
 */
export type Ranking = (task: number, cluster: number) => number;

/**
 * Clusters each task is evaluated under this iteration, ascending: its own cluster and the `m`
 * best-ranked others (ties to the lower index); every cluster when `full`.
 */
export function candidateClusters(assignment: Assignment, k: number, ranking: Ranking, settings: PruneSettings, full: boolean): number[][] {
  if (!Number.isInteger(settings.m) || settings.m < 0) throw new RangeError(`m must be a non-negative integer, got ${settings.m}`);
  const all = Array.from({ length: k }, (_, c) => c);
  return assignment.map((own, task) => {
    if (own < 0 || own >= k) throw new RangeError(`task ${task} is in cluster ${own}, outside 0..${k - 1}`);
    if (full || settings.m >= k - 1) return all;
    const others = all.filter((c) => c !== own).map((c) => ({ c, score: ranking(task, c) }));
    others.sort((x, y) => x.score - y.score || x.c - y.c);
    return [own, ...others.slice(0, settings.m).map((o) => o.c)].sort((x, y) => x - y);
  });
}

/**
 * The next assignment from a partial loss matrix (NaN = not evaluated): each task to the argmin
 * of the clusters it was evaluated under (a tie keeps it where it is), an emptied cluster repaired
 * as `reassign` does. Every task's own cluster must have been evaluated.
 */
export function reassignPartial(losses: LossMatrix, assignment: Assignment): number[] {
  assignment.forEach((c, t) => {
    if (!(losses[t]?.[c] >= -Infinity)) throw new RangeError(`task ${t} was not evaluated under its own cluster ${c}`);
  });
  return reassign(losses.map((row) => row.map((x) => (Number.isNaN(x) ? Infinity : x))), assignment);
}

/**
 * A similarity ranking: 1 - mean cosine similarity of the task's vector to the cluster's other
 * members (`taskSimilarity`, the kernel k-means' view of a cluster); an empty cluster ranks last.
 */
export function similarityRanking(similarity: Float64Array, n: number, assignment: Assignment, k: number): Ranking {
  const members: number[][] = Array.from({ length: k }, () => []);
  assignment.forEach((c, t) => members[c].push(t));
  return (task, cluster) => {
    const others = members[cluster].filter((j) => j !== task);
    if (others.length === 0) return Infinity;
    let s = 0;
    for (const j of others) s += similarity[task * n + j];
    return 1 - s / others.length;
  };
}

/**
 * Last measured loss where it is still valid (the cluster's members, hence its merge, unchanged
 * since it was measured: `known` returns undefined otherwise), else the fallback ranking. A
 * cluster without a valid loss ranks ahead of every measured one (a changed merge is news worth
 * one evaluation), the fallback ordering those among themselves; a fallback of at most 2 (as
 * `similarityRanking`) keeps them apart from losses, which are non-negative NLLs.
 */
export function lossRanking(known: (task: number, cluster: number) => number | undefined, fallback: Ranking, stale?: (task: number, cluster: number) => number | undefined): Ranking {
  return (task, cluster) => {
    const loss = known(task, cluster) ?? stale?.(task, cluster);
    return loss === undefined ? fallback(task, cluster) - 3 : loss;
  };
}

export interface D2CRunOptions {
  readonly n: number;
  readonly k: number;
  /** The starting assignment (k-means on task vectors in D2C). */
  readonly start: Assignment;
  /** Few-shot loss of `task` under the merge of `members` (sorted task indices). */
  readonly evaluate: (members: readonly number[], task: number) => number | Promise<number>;
  /** Assignments evaluated at most (a widened, full evaluation of the same assignment is the same iteration). */
  readonly maxIterations: number;
  /** null: the full schedule (every task under every cluster every iteration). */
  readonly prune: PruneSettings | null;
  /** Cosine similarities of the task vectors (n x n), for the fallback ranking. */
  readonly similarity: Float64Array;
  /**
   * How a task's other clusters are ranked. "stale" (default): the last loss measured under the
   * cluster's current members, else the last loss measured under the same cluster label (its merge
   * has changed since, usually by a few members), else similarity. "loss": the valid loss, else
   * similarity (unmeasured clusters first). "similarity": `similarityRanking` only. Measured on
   * the reference world, m = 2 (bench/scale.ts --ranking): "stale" reached full D2C's J at K = 5 in
   * 649 forward passes (full: 1040), "loss" 776 at a worse J, "similarity" 748 at a worse J.
   */
  readonly ranking?: "loss" | "similarity" | "stale";
}

export interface D2CIteration extends Iteration {
  /** Whether every task was evaluated under every cluster in this iteration. */
  readonly full: boolean;
  /** Task x cluster evaluations asked for (before any cache). */
  readonly evaluations: number;
}

export interface D2CRun {
  /** The assignment with the best J seen. */
  readonly assignment: Assignment;
  readonly iterations: readonly D2CIteration[];
  /** True when the run ended on a full sweep that moved nothing (not on maxIterations). */
  readonly fixedPoint: boolean;
}

/** D2C, pruned or full, from `start` to a full-sweep fixed point or maxIterations. */
export async function runD2C(options: D2CRunOptions): Promise<D2CRun> {
  const { n, k, evaluate, prune, similarity } = options;
  const known = new Map<string, number>(); // `${members}|${task}` -> loss measured in this run
  const lastByLabel = new Map<string, number>(); // `${cluster label}|${task}` -> last loss, merge possibly changed since
  const iterations: D2CIteration[] = [];
  let assignment: Assignment = options.start;
  let full = prune === null || (prune.fullFirst ?? fullFirstByDefault(n, k));
  while (iterations.length < options.maxIterations) {
    const clusters = clustersOf(assignment, k);
    const keys = clusters.map((m) => m.join(","));
    const fallback = similarityRanking(similarity, n, assignment, k);
    const valid = (t: number, c: number) => known.get(`${keys[c]}|${t}`);
    const ranking = options.ranking === "similarity" ? fallback
      : lossRanking(valid, fallback, (options.ranking ?? "stale") === "stale" ? (t, c) => lastByLabel.get(`${c}|${t}`) : undefined);
    const losses: number[][] = Array.from({ length: n }, () => new Array<number>(k).fill(NaN));
    let evaluations = 0;
    const sweep = async (wide: boolean) => {
      const candidates = candidateClusters(assignment, k, ranking, prune ?? DEFAULT_PRUNE, wide);
      for (let t = 0; t < n; t++) {
        for (const c of candidates[t]) {
          if (!Number.isNaN(losses[t][c])) continue;
          losses[t][c] = await evaluate(clusters[c], t);
          known.set(`${keys[c]}|${t}`, losses[t][c]);
          lastByLabel.set(`${c}|${t}`, losses[t][c]);
          evaluations++;
        }
      }
    };
    await sweep(full);
    let next = reassignPartial(losses, assignment);
    if (!full && sameAssignment(next, assignment)) {
      // No move among the candidates: widen this iteration to a full sweep before believing it.
      full = true;
      await sweep(true);
      next = reassignPartial(losses, assignment);
    }
    iterations.push({ assignment, objective: objective(losses, assignment), full, evaluations });
    if (sameAssignment(next, assignment)) {
      return { assignment: iterations[bestIteration(iterations)].assignment, iterations, fixedPoint: true };
    }
    full = prune === null;
    assignment = next;
  }
  return { assignment: iterations[bestIteration(iterations)].assignment, iterations, fixedPoint: false };
}
