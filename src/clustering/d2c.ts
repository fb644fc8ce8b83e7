/**
 * D2C's refinement step (README, "D2C on the reference world"): given the loss of every task under every merged
 * cluster adapter, move each task to the cluster that serves it best. Pure, so the ClusterRun
 * Durable Object (one step per alarm) and the offline experiment run the same rule.
 */
import { canonical, type Assignment } from "./assignment";
import { argmin } from "./kmeans";

/** losses[task][cluster]: mean few-shot NLL of the task under the cluster's merged adapter. */
export type LossMatrix = readonly (readonly number[])[];

/** J: mean over tasks of the loss under the task's own cluster. */
export function objective(losses: LossMatrix, assignment: Assignment): number {
  return assignment.reduce((sum, c, t) => sum + losses[t][c], 0) / assignment.length;
}

/**
 * Each task to its argmin cluster (a tie keeps it where it is); a cluster left empty takes the
 * worst-served task among clusters that can spare one, so K merged adapters always ship.
 */
export function reassign(losses: LossMatrix, assignment: Assignment): number[] {
  const k = losses[0]?.length ?? 0;
  if (losses.length !== assignment.length || losses.some((row) => row.length !== k)) {
    throw new RangeError(`losses must be ${assignment.length} tasks x ${k} clusters`);
  }
  const next = losses.map((row, t) => argmin(row, assignment[t]));
  for (let c = 0; c < k; c++) {
    if (next.includes(c)) continue;
    const size = (x: number) => next.filter((y) => y === x).length;
    let worst = -1;
    for (let t = 0; t < next.length; t++) {
      if (size(next[t]) > 1 && (worst < 0 || losses[t][next[t]] > losses[worst][next[worst]])) worst = t;
    }
    next[worst] = c;
  }
  return canonical(next);
}

/**
 * A warm start leaves new tasks at -1: the old clusters are merged without them, and each goes
 * to the cluster whose merged adapter serves it best. That placed assignment is what the
 * iteration is scored as.
 */
export function placeNewTasks(losses: LossMatrix, assignment: Assignment): number[] {
  return assignment.map((c, t) => (c >= 0 ? c : argmin(losses[t])));
}

export interface Iteration {
  readonly assignment: Assignment;
  readonly objective: number;
}

/** The iteration with the lowest J (the first of equals): D2C returns the best it has seen. */
export function bestIteration(iterations: readonly Iteration[]): number {
  return argmin(iterations.map((i) => i.objective));
}
