/**
 * The merge methods, each declared once (after mergekit's merge_methods/registry.py): its name, the
 * parameters it reads, and how it merges. Everything else (option checks, the POST /v1/runs schema,
 * cache keys, tuning's screen, GET /v1/capabilities, console, CLI) reads this list. The methods over
 * delta W are configurations of one generalized task-arithmetic merge (mergekit's
 * GeneralizedTaskArithmeticMerge, here taskArithmetic.ts): sparsify each delta, combine, project.
 */
import type { LoraFactors, LoraTarget } from "../factors";
import { MAX_RANK } from "../peft";
import { catMerge } from "./cat";
import { linearMerge } from "./linear";

export const DEFAULT_DENSITY = 0.5;
export const DEFAULT_SEED = 0;

/** A numeric merge parameter as the API validates it: bounds, whether they are included, its default. */
export interface MergeParameter {
  readonly type: "number" | "integer";
  readonly min: number;
  readonly minExclusive: boolean;
  readonly max: number;
  readonly maxExclusive: boolean;
  /** The bounds as errors write them. */
  readonly range: string;
  /** Absent where the default depends on the inputs (see `description`). */
  readonly default?: number;
  /** "request": merge.<name> of POST /v1/runs; "run": set from the run's own field of that name. */
  readonly source: "request" | "run";
  readonly description: string;
}

/** In this order in cache keys (src/runs/keys.ts) and checks: reordering changes every cache key. */
export const MERGE_PARAMETERS = {
  density: {
    type: "number",
    min: 0,
    minExclusive: true,
    max: 1,
    maxExclusive: false,
    range: "(0, 1]",
    default: DEFAULT_DENSITY,
    source: "request",
    description: "fraction of each delta W's entries kept",
  },
  rank: {
    type: "integer",
    min: 1,
    minExclusive: false,
    max: MAX_RANK,
    maxExclusive: false,
    range: `1..${MAX_RANK}`,
    source: "request",
    description: "components per module, exactly; default the largest input rank (a profile's rank under a profile)",
  },
  seed: {
    type: "integer",
    min: 0,
    minExclusive: false,
    max: 2 ** 32,
    maxExclusive: true,
    range: "[0, 2^32)",
    default: DEFAULT_SEED,
    source: "run",
    description: "the drop pattern: the same seed gives the same bytes",
  },
} as const satisfies Record<string, MergeParameter>;

export type MergeParameterName = keyof typeof MERGE_PARAMETERS;
export const MERGE_PARAMETER_NAMES = Object.keys(MERGE_PARAMETERS) as MergeParameterName[];

/** Entries of delta W zeroed before combining: by magnitude (TIES's trim), by seeded coin (DARE), or none. */
export type Sparsification = "none" | "magnitude" | "dare";
/** "ties": elect each entry's sign, then the disjoint mean of agreeing entries; "none": the weighted sum. */
export type Consensus = "none" | "ties";

interface Common {
  readonly name: string;
  readonly summary: string;
  readonly parameters: readonly MergeParameterName[];
  /** A member's weight before scaling: 1/n where the merge sums, 1 where a disjoint mean divides already (PEFT). */
  readonly unitWeight: "1/n" | "1";
  /** Whether merge tuning screens it at each of the run's densities (src/tuning/screen.ts). */
  readonly screened: boolean;
  /** false: the rank grows with the cluster, so no byte budget can fix K in advance. */
  readonly fixedRank: boolean;
}

/** A merge of the factors themselves (no delta W is formed). */
export interface FactorMerge extends Common {
  readonly kind: "factors";
  readonly merge: (factors: readonly LoraFactors[], weights: readonly number[], target: LoraTarget) => LoraFactors;
}

/** A generalized task-arithmetic merge: sparsify each delta W, combine, truncated SVD to `rank`. */
export interface TaskArithmetic extends Common {
  readonly kind: "taskArithmetic";
  readonly sparsification: Sparsification;
  readonly consensus: Consensus;
  readonly projection: "svd";
}

export type MergeMethodDescriptor = FactorMerge | TaskArithmetic;

/**
 * A task-arithmetic configuration; the unit weight follows from the consensus. Tuning screens every
 * sparsifying one at each density unless `screened` is false (each screened method costs evaluations).
 */
function taskArithmetic<N extends string>(
  name: N,
  summary: string,
  sparsification: Sparsification,
  consensus: Consensus,
  screened = sparsification !== "none",
): TaskArithmetic & { readonly name: N } {
  const parameters: MergeParameterName[] = [...(sparsification === "none" ? [] : ["density" as const]), "rank"];
  return {
    kind: "taskArithmetic",
    name,
    summary,
    sparsification,
    consensus,
    projection: "svd",
    parameters: sparsification === "dare" ? [...parameters, "seed"] : parameters,
    unitWeight: consensus === "ties" ? "1" : "1/n",
    screened,
    fixedRank: true,
  };
}

/** In this order in errors and lists; semantics follow PEFT's add_weighted_adapter (tools/fixtures/merge.py). */
export const MERGE_METHOD_DESCRIPTORS = [
  {
    kind: "factors",
    name: "linear",
    merge: linearMerge,
    parameters: [],
    unitWeight: "1/n",
    screened: false,
    fixedRank: true,
    summary:
      "A and B averaged separately, A with sqrt(|w|) sign(w), B with sqrt(|w|) (PEFT; delta W has cross " +
      "terms); every adapter has the same rank per module",
  },
  {
    kind: "factors",
    name: "cat",
    merge: catMerge,
    parameters: [],
    unitWeight: "1/n",
    screened: false,
    fixedRank: false,
    summary: "A stacked row-wise times w, B side by side: exactly the weighted sum of delta W; the rank is the sum",
  },
  taskArithmetic("svd", "the weighted sum of delta W = B A, truncated SVD to rank", "none", "none"),
  taskArithmetic(
    "ties_svd",
    "TIES: trim each delta W to density by magnitude, elect each entry's sign from " +
      "the sum, mean of the weighted entries that agree, then truncated SVD",
    "magnitude",
    "ties",
  ),
  taskArithmetic(
    "dare_ties_svd",
    "DARE: drop each entry with probability 1 - density (seeded), rescale by " +
      "1/density, then TIES's sign election and disjoint mean (no trim, as PEFT), then truncated SVD",
    "dare",
    "ties",
  ),
  taskArithmetic(
    "magnitude_prune_svd",
    "the weighted sum of delta Ws trimmed to density by magnitude, then " + "truncated SVD",
    "magnitude",
    "none",
  ),
] as const satisfies readonly MergeMethodDescriptor[];

export type MergeMethod = (typeof MERGE_METHOD_DESCRIPTORS)[number]["name"];

export const MERGE_METHODS = MERGE_METHOD_DESCRIPTORS.map((d) => d.name) as [MergeMethod, ...MergeMethod[]];

/** A run's merge when the request names none, and the cron's (D2C's own merge in the paper). */
export const DEFAULT_MERGE_METHOD: MergeMethod = "svd";

const BY_NAME: ReadonlyMap<string, MergeMethodDescriptor> = new Map(MERGE_METHOD_DESCRIPTORS.map((d) => [d.name, d]));

/** The method's descriptor, or undefined for a name that is none. */
export function mergeMethod(name: string): MergeMethodDescriptor | undefined {
  return BY_NAME.get(name);
}

/** Whether the method reads the parameter (an unknown method reads none). */
export function takesParameter(method: string, parameter: MergeParameterName): boolean {
  return (BY_NAME.get(method)?.parameters as readonly string[] | undefined)?.includes(parameter) ?? false;
}

/** Whether `x` is a value `parameter` accepts. */
export function inRange(parameter: MergeParameter, x: unknown): x is number {
  if (typeof x !== "number" || (parameter.type === "integer" && !Number.isInteger(x))) return false;
  const above = parameter.minExclusive ? x > parameter.min : x >= parameter.min;
  return above && (parameter.maxExclusive ? x < parameter.max : x <= parameter.max);
}

/** The error for a value out of range, naming the parameter, its bounds and the value. */
export function rangeMessage(name: MergeParameterName, x: unknown): string {
  const p: MergeParameter = MERGE_PARAMETERS[name];
  return `${name} must be ${p.type === "integer" ? "an integer " : ""}in ${p.range}, got ${x}`;
}
