/** The merge settings a tuned cluster's merge is screened among (src/tuning/clusterTuner.ts). */
import type { MergeSettings } from "../adapters/merge";

/** The run's own merge first (the untuned one), then the pruning methods at each density; DARE's drop pattern follows `seed`. */
export function screenedMethods(base: MergeSettings, densities: readonly number[], seed: number): MergeSettings[] {
  const pruned = (["ties_svd", "dare_ties_svd", "magnitude_prune_svd"] as const).flatMap((method) =>
    densities.map((density): MergeSettings => (method === "dare_ties_svd" ? { ...base, method, density, seed } : { ...base, method, density })));
  return [base, ...pruned];
}
