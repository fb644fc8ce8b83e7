/**
 * The fixed merges a cluster's tuning screens before any weight is fitted: the run's merge, then
 * each method the registry marks screened (the pruning methods) at each density, at uniform
 * weights times each common scale. A few fixed candidates, none fitted, so the choice among them
 * is made on every few-shot example.
 */
import type { MergeMethod, MergeOptions, MergeSettings } from "../adapters/merge/options";
import { MERGE_METHOD_DESCRIPTORS, mergeMethod, takesParameter } from "../adapters/merge/registry";

/**
 * The weight each member gets before scaling (the registry's unitWeight): 1/n where the merge sums
 * weighted delta Ws, 1 where TIES's disjoint mean already divides by the agreeing members (PEFT's
 * convention), else those merges come out n times too small.
 */
export function unitWeight(method: MergeMethod, members: number): number {
  return mergeMethod(method)?.unitWeight === "1" ? 1 : 1 / members;
}

/** `base` (D2C's merge) first, then each screened method in registry order at each density; seeded ones get `seed`. */
export function screenedMethods(base: MergeSettings, densities: readonly number[], seed: number): MergeSettings[] {
  const pruned = MERGE_METHOD_DESCRIPTORS.filter((d) => d.screened).flatMap((d) =>
    densities.map(
      (density): MergeSettings =>
        takesParameter(d.name, "seed")
          ? { ...base, method: d.name, density, seed }
          : { ...base, method: d.name, density },
    ),
  );
  return [base, ...pruned];
}

/**
 * Every screened merge of a cluster of `members` tasks: methods x scales, in that order (the first is D2C's own merge
 * when scales[0] is 1).
 */
export function screenCandidates(
  methods: readonly MergeSettings[],
  scales: readonly number[],
  members: number,
): MergeOptions[] {
  scales.forEach((c) => {
    if (!(c > 0 && Number.isFinite(c))) throw new RangeError(`scale ${c} is not positive`);
  });
  return methods.flatMap((m) =>
    scales.map((c) => ({ ...m, weights: Array.from({ length: members }, () => c * unitWeight(m.method, members)) })),
  );
}
