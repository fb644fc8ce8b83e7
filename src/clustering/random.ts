/**
 * The random baseline: a seeded, balanced partition (cluster sizes differ by at most one), so
 * that "random" is never handicapped by a degenerate, lopsided draw.
 */
import { canonical } from "./assignment";
import { seededRandom } from "../prng";

export function randomAssignment(tasks: number, k: number, seed: number): number[] {
  checkK(tasks, k);
  const random = seededRandom(seed);
  const order = Array.from({ length: tasks }, (_, i) => i);
  for (let i = order.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [order[i], order[j]] = [order[j], order[i]];
  }
  const assignment = new Array<number>(tasks);
  order.forEach((task, position) => (assignment[task] = position % k));
  return canonical(assignment);
}

export function checkK(tasks: number, k: number): void {
  if (!Number.isInteger(k) || k < 1 || k > tasks)
    throw new RangeError(`k must be an integer in 1..${tasks} (the number of tasks), got ${k}`);
}
