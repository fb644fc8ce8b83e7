/**
 * Merge methods and their settings, plain data so an API schema can validate against them.
 * Semantics follow PEFT's `add_weighted_adapter` (tools/fixtures/merge.py is the reference),
 * except that the svd family applies each adapter's scaling once.
 */
import { MAX_RANK } from "../peft";

export const MERGE_METHODS = ["linear", "cat", "svd", "ties_svd", "dare_ties_svd", "magnitude_prune_svd"] as const;
export type MergeMethod = (typeof MERGE_METHODS)[number];

/** Everything about a merge except which adapters take part and their weights. */
export interface MergeSettings {
  /**
   * - `linear`: A and B averaged separately, A with sqrt(|w|)·sign(w), B with sqrt(|w|) (PEFT;
   *   delta W then has cross terms). Every adapter must have the same rank per module.
   * - `cat`: A stacked row-wise times w, B side by side: delta W is exactly the weighted sum;
   *   the rank is the sum of the ranks.
   * - `svd`: the weighted sum of delta W = B A, truncated SVD back to `rank`.
   * - `ties_svd`: TIES (trim each delta W to `density` by magnitude, elect each entry's sign
   *   from the sum, mean of the weighted entries that agree), then truncated SVD.
   * - `dare_ties_svd`: DARE (drop each entry with probability 1 - density, seeded, rescale by
   *   1/density), then TIES's sign election and disjoint mean (no magnitude trim, as PEFT), then SVD.
   * - `magnitude_prune_svd`: weighted sum of the trimmed delta Ws, then truncated SVD.
   */
  readonly method: MergeMethod;
  /** Fraction of each delta W's entries kept, in (0, 1]; only the pruning methods use it. Default 0.5. */
  readonly density?: number;
  /** Components per module of an svd-family merge (exactly this many), 1..64. Default: the largest input rank. */
  readonly rank?: number;
  /** dare_ties_svd's drop pattern, an integer in [0, 2^32): the same seed gives the same bytes. Default 0. */
  readonly seed?: number;
}

export interface MergeOptions extends MergeSettings {
  /** One finite weight per adapter, any sign. Default 1/n each. */
  readonly weights?: readonly number[];
}

export const DEFAULT_DENSITY = 0.5;
export const DEFAULT_SEED = 0;

export type ResolvedOptions = Required<MergeSettings> & { readonly weights: readonly number[] };

/** Checks the options and fills in the defaults; `maxInputRank` is the largest rank among the inputs. */
export function resolveOptions(options: MergeOptions, adapters: number, maxInputRank: number): ResolvedOptions {
  const { method } = options;
  if (!(MERGE_METHODS as readonly string[]).includes(method)) {
    throw new RangeError(`merge method ${JSON.stringify(method)} is not one of ${MERGE_METHODS.join(", ")}`);
  }
  const weights = options.weights ?? Array.from({ length: adapters }, () => 1 / adapters);
  if (weights.length !== adapters) throw new RangeError(`weights has ${weights.length} entries for ${adapters} adapters`);
  weights.forEach((w, i) => {
    if (typeof w !== "number" || !Number.isFinite(w)) throw new RangeError(`weights[${i}] is ${w}, not a finite number`);
  });
  const density = options.density ?? DEFAULT_DENSITY;
  if (typeof density !== "number" || !(density > 0 && density <= 1)) throw new RangeError(`density must be in (0, 1], got ${density}`);
  const rank = options.rank ?? maxInputRank;
  if (!Number.isInteger(rank) || rank < 1 || rank > MAX_RANK) {
    throw new RangeError(`rank must be an integer in 1..${MAX_RANK}, got ${rank}`);
  }
  const seed = options.seed ?? DEFAULT_SEED;
  if (!Number.isInteger(seed) || seed < 0 || seed >= 2 ** 32) throw new RangeError(`seed must be an integer in [0, 2^32), got ${seed}`);
  return { method, weights, density, rank, seed };
}
