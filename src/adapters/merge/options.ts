/**
 * A merge's settings, plain data, checked against the registry's parameters (registry.ts).
 * Semantics follow PEFT's `add_weighted_adapter` (tools/fixtures/merge.py is the reference),
 * except that the svd family applies each adapter's scaling once.
 */
import {
  MERGE_METHODS,
  MERGE_PARAMETER_NAMES,
  MERGE_PARAMETERS,
  inRange,
  mergeMethod,
  rangeMessage,
  type MergeMethod,
  type MergeParameterName,
} from "./registry";

export { DEFAULT_DENSITY, DEFAULT_SEED, MERGE_METHODS, type MergeMethod } from "./registry";

/** Everything about a merge except which adapters take part and their weights. */
export interface MergeSettings {
  /** One of MERGE_METHOD_DESCRIPTORS (registry.ts), whose summaries say what each does. */
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

export type ResolvedOptions = Required<MergeSettings> & { readonly weights: readonly number[] };

/** Checks the options and fills in the defaults; `maxInputRank` is the largest rank among the inputs. */
export function resolveOptions(options: MergeOptions, adapters: number, maxInputRank: number): ResolvedOptions {
  const { method } = options;
  if (!mergeMethod(method)) {
    throw new RangeError(`merge method ${JSON.stringify(method)} is not one of ${MERGE_METHODS.join(", ")}`);
  }
  const weights = options.weights ?? Array.from({ length: adapters }, () => 1 / adapters);
  if (weights.length !== adapters)
    throw new RangeError(`weights has ${weights.length} entries for ${adapters} adapters`);
  weights.forEach((w, i) => {
    if (typeof w !== "number" || !Number.isFinite(w))
      throw new RangeError(`weights[${i}] is ${w}, not a finite number`);
  });
  const defaults: Record<MergeParameterName, number> = {
    density: MERGE_PARAMETERS.density.default,
    rank: maxInputRank,
    seed: MERGE_PARAMETERS.seed.default,
  };
  const resolved = { method, weights, ...defaults };
  for (const name of MERGE_PARAMETER_NAMES) {
    const value = options[name] ?? defaults[name];
    if (!inRange(MERGE_PARAMETERS[name], value)) throw new RangeError(rangeMessage(name, value));
    resolved[name] = value;
  }
  return resolved;
}
