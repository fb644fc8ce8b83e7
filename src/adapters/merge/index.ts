/**
 * Merging LoRA adapters: pure functions over float32 factors, float64 inside, deterministic
 * (the same inputs give the same bytes). A merged adapter has its scaling folded in (1), as PEFT
 * writes it with lora_alpha = r.
 */
import type { AdapterFactors, LoraFactors, LoraTarget } from "../factors";
import { catMerge } from "./cat";
import { linearMerge } from "./linear";
import { lowRankSvdMerge } from "./lowRank";
import { resolveOptions, type MergeOptions, type ResolvedOptions } from "./options";
import { dropAndRescale, electAndMerge, keepLargest } from "./prune";
import { seededRandom } from "../../prng";
import { moduleSeed } from "./random";
import { checkShapes } from "./shapes";
import { deltaW, denseSvdMerge, svdFactors, weightedSum } from "./svd";

export { DEFAULT_DENSITY, DEFAULT_SEED, MERGE_METHODS, type MergeMethod, type MergeOptions, type MergeSettings } from "./options";
export { toPeft, type PeftAdapter, type PeftAdapterConfig } from "./peftExport";

/** Merges every target module of `adapters` (shapes are checked first; see MergeSettings for the methods). */
export function mergeAdapters(adapters: readonly AdapterFactors[], targets: readonly LoraTarget[], options: MergeOptions): AdapterFactors {
  const maxRank = checkShapes(adapters, targets);
  const resolved = resolveOptions(options, adapters.length, maxRank);
  const merged = new Map<string, LoraFactors>();
  for (const target of targets) {
    merged.set(target.module, mergeModule(adapters.map((a) => a.get(target.module)!), target, resolved));
  }
  return merged;
}

function mergeModule(factors: readonly LoraFactors[], target: LoraTarget, options: ResolvedOptions): LoraFactors {
  const { weights, density, rank } = options;
  // The pruning methods act on single entries of delta W, which have no low-rank form: they
  // need each dense [out, in] delta.
  const deltas = () => factors.map((f) => deltaW(f, target));
  switch (options.method) {
    case "linear":
      return linearMerge(factors, weights, target);
    case "cat":
      return catMerge(factors, weights, target);
    case "svd": {
      const total = factors.reduce((sum, f) => sum + f.rank, 0);
      const lowRank = total < Math.min(target.out, target.in);
      return (lowRank ? lowRankSvdMerge : denseSvdMerge)(factors, weights, target, rank);
    }
    case "magnitude_prune_svd":
      return svdFactors(weightedSum(deltas().map((d) => keepLargest(d, density)), weights), target, rank);
    case "ties_svd":
      return svdFactors(electAndMerge(deltas().map((d) => keepLargest(d, density)), weights), target, rank);
    case "dare_ties_svd": {
      const uniform = seededRandom(moduleSeed(options.seed, target.module));
      return svdFactors(electAndMerge(deltas().map((d) => dropAndRescale(d, density, uniform)), weights), target, rank);
    }
  }
}
