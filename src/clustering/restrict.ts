/**
 * A subset's warm start (issue 14): the profile-wide clusters restricted to the subset's tasks,
 * brought to exactly K clusters. Restriction alone leaves as many clusters as the subset touches,
 * which can be fewer than K (a German-English phone touches two of five application groups) or,
 * with a smaller K, more. Fewer: the largest cluster is halved until there are K, so the budget
 * is used and D2C then moves tasks by loss; more: the two smallest are joined. Deterministic, so a
 * subset's run is reproducible for a seed.
 */
import { canonical } from "./assignment";

/**
 * The assignment over `tasks` (in their order) to clusters 0..k-1, every cluster non-empty;
 * `clusters` are the profile-wide clusters by task id. A task in none of them starts alone in a
 * cluster of its own before the balancing (it is new since the profile's release).
 */
export function restrictClusters(
  clusters: readonly (readonly string[])[],
  tasks: readonly string[],
  k: number,
): number[] {
  // Not `k < 1 || k > n` alone: NaN and 2.5 pass both and the loops below would return another count of clusters.
  if (!Number.isInteger(k) || k < 1 || k > tasks.length)
    throw new RangeError(`k must be an integer between 1 and the ${tasks.length} tasks, got ${k}`);
  const clusterOf = new Map(clusters.flatMap((members, c) => members.map((t) => [t, c] as const)));
  const groups = new Map<number | string, number[]>();
  tasks.forEach((task, i) => {
    const label = clusterOf.get(task) ?? `new:${task}`;
    groups.set(label, [...(groups.get(label) ?? []), i]);
  });
  const parts = [...groups.values()];
  // Ties go to the part whose first task comes first, so the result depends on the tasks only.
  const bySize = (a: number[], b: number[]) => b.length - a.length || a[0] - b[0];
  while (parts.length > k) {
    parts.sort(bySize);
    const smallest = parts.pop()!;
    const next = parts.pop()!;
    parts.push([...next, ...smallest].sort((a, b) => a - b));
  }
  while (parts.length < k) {
    parts.sort(bySize);
    const largest = parts.shift()!;
    const half = Math.ceil(largest.length / 2);
    parts.push(largest.slice(0, half), largest.slice(half));
  }
  const assignment = new Array<number>(tasks.length);
  parts.forEach((members, c) => members.forEach((i) => (assignment[i] = c)));
  return canonical(assignment);
}
