/**
 * The fixed merges a cluster's tuning screens before any weight is fitted: each method (svd,
 * then the pruning methods at each density) at uniform weights times each common scale. A few
 * fixed candidates, none fitted, so the choice among them is made on every few-shot example.
 */
import type { MergeMethod, MergeOptions, MergeSettings } from "../adapters/merge/options";

/**
 * The weight each member gets before scaling: 1/n where the merge sums weighted delta Ws (svd,
 * magnitude_prune_svd), 1 where TIES's disjoint mean already divides by the agreeing members
 * (ties_svd, dare_ties_svd; PEFT's convention), else those merges come out n times too small.
 */
export function unitWeight(method: MergeMethod, members: number): number {
  return method === "ties_svd" || method === "dare_ties_svd" ? 1 : 1 / members;
}

/** svd (`base`, D2C's merge) first, then ties_svd, dare_ties_svd (seeded), magnitude_prune_svd at each density. */
export function screenedMethods(base: MergeSettings, densities: readonly number[], seed: number): MergeSettings[] {
  const pruned = (["ties_svd", "dare_ties_svd", "magnitude_prune_svd"] as const).flatMap((method) =>
    densities.map((density): MergeSettings => (method === "dare_ties_svd" ? { ...base, method, density, seed } : { ...base, method, density })));
  return [base, ...pruned];
}

/** Every screened merge of a cluster of `members` tasks: methods x scales, in that order (the first is D2C's own merge when scales[0] is 1). */
export function screenCandidates(methods: readonly MergeSettings[], scales: readonly number[], members: number): MergeOptions[] {
  scales.forEach((c) => {
    if (!(c > 0 && Number.isFinite(c))) throw new RangeError(`scale ${c} is not positive`);
  });
  return methods.flatMap((m) => scales.map((c) => ({ ...m, weights: Array.from({ length: members }, () => c * unitWeight(m.method, members)) })));
}
