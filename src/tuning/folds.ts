/**
 * Held-back folds of a task's few-shot set: ten examples are few, so a choice made on them
 * (tuned against uniform weights, a merge method) is judged on examples the tuning did not see.
 * The held-out (test) split is never touched here; it is reported only at the end.
 */
import { seededRandom } from "../prng";

/**
 * `folds` disjoint sets of example indices covering 0..count-1, sizes differing by at most one,
 * each sorted; a seeded shuffle decides who goes where. folds = count is leave-one-out.
 */
export function exampleFolds(count: number, folds: number, seed: number): number[][] {
  if (!Number.isInteger(count) || count < 1) throw new RangeError(`count must be a positive integer, got ${count}`);
  if (!Number.isInteger(folds) || folds < 2 || folds > count)
    throw new RangeError(`folds must be an integer in 2..${count}, got ${folds}`);
  const random = seededRandom(seed);
  const order = Array.from({ length: count }, (_, i) => i);
  for (let i = count - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [order[i], order[j]] = [order[j], order[i]];
  }
  const out: number[][] = Array.from({ length: folds }, () => []);
  order.forEach((example, i) => out[i % folds].push(example));
  return out.map((fold) => fold.sort((a, b) => a - b));
}

/** The examples a fold's tuning may use: every index not in fold `held`. */
export function trainingExamples(folds: readonly (readonly number[])[], held: number): number[] {
  if (!(held >= 0 && held < folds.length)) throw new RangeError(`fold ${held} is outside 0..${folds.length - 1}`);
  return folds.flatMap((fold, f) => (f === held ? [] : fold)).sort((a, b) => a - b);
}

/** Mean of per-example losses over a subset of examples (a fold's loss, or its complement's). */
export function subsetLoss(exampleLosses: ArrayLike<number>, examples: readonly number[]): number {
  if (examples.length === 0) throw new RangeError("subsetLoss: no examples");
  let sum = 0;
  for (const e of examples) {
    if (!(e >= 0 && e < exampleLosses.length))
      throw new RangeError(`example ${e} is outside 0..${exampleLosses.length - 1}`);
    sum += exampleLosses[e];
  }
  return sum / examples.length;
}

/**
 * A cluster's tuning objective from its member tasks' losses: the mean over members, plus
 * `penalty` times the worst member's loss (penalty 0: the plain mean D2C's J uses).
 */
export function clusterObjective(memberLosses: readonly number[], penalty = 0): number {
  if (memberLosses.length === 0) throw new RangeError("clusterObjective: no members");
  const mean = memberLosses.reduce((a, b) => a + b, 0) / memberLosses.length;
  return penalty === 0 ? mean : mean + penalty * Math.max(...memberLosses);
}

/**
 * A cluster's objective on one side of fold `fold`: each member's per-example losses averaged
 * over its training examples ("train", what the optimiser sees) or its held-back fold
 * ("heldBack", what judges the result), then `clusterObjective` over members.
 * memberFolds[i] is member i's `exampleFolds`.
 */
export function foldObjective(
  memberLosses: readonly ArrayLike<number>[],
  memberFolds: readonly (readonly (readonly number[])[])[],
  fold: number,
  part: "train" | "heldBack",
  penalty = 0,
): number {
  if (memberLosses.length !== memberFolds.length)
    throw new RangeError(`${memberLosses.length} members' losses for ${memberFolds.length} members' folds`);
  return clusterObjective(
    memberLosses.map((losses, i) =>
      subsetLoss(losses, part === "train" ? trainingExamples(memberFolds[i], fold) : [...memberFolds[i][fold]]),
    ),
    penalty,
  );
}
