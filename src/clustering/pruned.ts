/**
 * Pruned D2C (issue 12): each iteration evaluates a task only under its own cluster and its `m`
 * most promising other clusters; an iteration that moves nothing is widened to a full sweep
 * (every task under every cluster) before the run may stop, so a pruned run ends at a true D2C
 * fixed point: no task prefers another cluster under a full evaluation.
 *
 * Pure, like d2c.ts: the pieces policy.ts puts together into the one D2C loop that the offline
 * experiment (runD2C.ts) and the ClusterRun Durable Object both drive.
 */
import type { Assignment } from "./assignment";
import { reassign, type LossMatrix } from "./d2c";

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
export function candidateClusters(
  assignment: Assignment,
  k: number,
  ranking: Ranking,
  settings: PruneSettings,
  full: boolean,
): number[][] {
  if (!Number.isInteger(settings.m) || settings.m < 0)
    throw new RangeError(`m must be a non-negative integer, got ${settings.m}`);
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
  return reassign(
    losses.map((row) => row.map((x) => (Number.isNaN(x) ? Infinity : x))),
    assignment,
  );
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
export function lossRanking(
  known: (task: number, cluster: number) => number | undefined,
  fallback: Ranking,
  stale?: (task: number, cluster: number) => number | undefined,
): Ranking {
  return (task, cluster) => {
    const loss = known(task, cluster) ?? stale?.(task, cluster);
    return loss === undefined ? fallback(task, cluster) - 3 : loss;
  };
}
