/**
 * The generalized task-arithmetic merge (mergekit's GeneralizedTaskArithmeticMerge): each method of
 * the svd family is a configuration of it (registry.ts): sparsify each delta W, combine them by
 * consensus or a weighted sum, project back to LoRA factors by truncated SVD.
 */
import type { LoraFactors, LoraTarget } from "../factors";
import { seededRandom } from "../../prng";
import type { ResolvedOptions } from "./options";
import { dropAndRescale, electAndMerge, keepLargest } from "./prune";
import { moduleSeed } from "./random";
import type { Consensus, Sparsification, TaskArithmetic } from "./registry";
import { lowRankSvdMerge } from "./lowRank";
import { deltaW, denseSvdMerge, svdFactors, weightedSum } from "./svd";

type Sparsify = (delta: Float64Array) => Float64Array;

/** One module's sparsifier; DARE's stream is the module's own, drawn across the adapters in order. */
const SPARSIFIERS: Record<Exclude<Sparsification, "none">, (o: ResolvedOptions, module: string) => Sparsify> = {
  magnitude: (o) => (d) => keepLargest(d, o.density),
  dare: (o, module) => {
    const uniform = seededRandom(moduleSeed(o.seed, module));
    return (d) => dropAndRescale(d, o.density, uniform);
  },
};

const COMBINE: Record<Consensus, (deltas: readonly Float64Array[], weights: readonly number[]) => Float64Array> = {
  none: weightedSum,
  ties: electAndMerge,
};

export function taskArithmeticMerge(
  factors: readonly LoraFactors[],
  target: LoraTarget,
  options: ResolvedOptions,
  method: TaskArithmetic,
): LoraFactors {
  const { weights, rank } = options;
  if (method.sparsification === "none" && method.consensus === "none") {
    // A plain weighted sum needs no single delta: it stays low-rank while the summed rank allows (lowRank.ts).
    const total = factors.reduce((sum, f) => sum + f.rank, 0);
    const lowRank = total < Math.min(target.out, target.in);
    return (lowRank ? lowRankSvdMerge : denseSvdMerge)(factors, weights, target, rank);
  }
  // Sparsification and consensus act on single entries of delta W, which have no low-rank form.
  const sparsify: Sparsify =
    method.sparsification === "none" ? (d) => d : SPARSIFIERS[method.sparsification](options, target.module);
  const deltas = factors.map((f) => sparsify(deltaW(f, target)));
  return svdFactors(COMBINE[method.consensus](deltas, weights), target, rank);
}
