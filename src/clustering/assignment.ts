/**
 * An assignment maps task i (in the run's task order) to a cluster 0..K-1. Labels are kept
 * canonical (clusters numbered by their first task), so two assignments that describe the same
 * partition are equal element by element and "stable" is a plain comparison.
 */
export type Assignment = readonly number[];

export function canonical(assignment: readonly number[]): number[] {
  const relabel = new Map<number, number>();
  return assignment.map((c) => {
    let label = relabel.get(c);
    if (label === undefined) {
      label = relabel.size;
      relabel.set(c, label);
    }
    return label;
  });
}

export function sameAssignment(a: Assignment, b: Assignment): boolean {
  return a.length === b.length && a.every((c, i) => c === b[i]);
}

/** Task indices of each cluster, in task order; a task at -1 (not yet placed) is in none. */
export function clustersOf(assignment: Assignment, k = Math.max(-1, ...assignment) + 1): number[][] {
  const clusters: number[][] = Array.from({ length: k }, () => []);
  assignment.forEach((c, task) => c >= 0 && clusters[c].push(task));
  return clusters;
}

/** Every task in one cluster: the merge-all baseline (K = 1). */
export function mergeAll(tasks: number): number[] {
  return new Array<number>(tasks).fill(0);
}
