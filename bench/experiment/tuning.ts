/**
 * `d2c-tuned` (issue 15): each final cluster's merge chosen on its members' few-shot loss. The
 * merge method (and density) is screened at uniform weights; then per held-back fold, CMA-ES
 * tunes the member weights on the other folds' examples, and the tuned weights are kept only if
 * they beat uniform weights on the held-back examples (mean over folds). The kept weights are
 * the mean of the folds' solutions (in log coordinates): no extra tuning run on all examples.
 * The held-out split is never read here.
 */
import type { MergeOptions, MergeSettings } from "../../src/adapters/merge/index.ts";
import { minimizeCmaes } from "../../src/tuning/cmaes.ts";
import { clusterObjective, exampleFolds, foldObjective, subsetLoss } from "../../src/tuning/folds.ts";
import { screenCandidates } from "../../src/tuning/screen.ts";
import { mergeWeights, scaledMergeWeights } from "../../src/tuning/weights.ts";
import { Scorer, type Meter } from "./scorer.ts";

export interface TuneSettings {
  /** CMA-ES candidate evaluations per fold (each costs one few-shot pass per member). */
  readonly budget: number;
  /** Held-back folds of each task's few-shot examples. */
  readonly folds: number;
  /** Weight of the worst member's loss in the objective (0: the members' mean). */
  readonly penalty: number;
  /** CMA-ES initial step in log-weight units. */
  readonly sigma0: number;
  /** Merge settings screened at uniform weights; the first is the untuned merge (D2C's). */
  readonly methods: readonly MergeSettings[];
  /** Common scales screened with each method (uniform weights times c); 1 must be among them. */
  readonly scales: readonly number[];
  /** CMA-ES coordinates [log scale, per-member log weights] (scaledMergeWeights) instead of per-member only. */
  readonly scaleCoordinate: boolean;
  /** Folds, CMA-ES and DARE seed. */
  readonly seed: number;
}

export interface TunedCluster {
  readonly members: readonly number[];
  /** The merge shipped (method, density, rank, weights in member order). */
  readonly merge: MergeOptions;
  /** Cluster name for the Scorer. */
  readonly name: string;
  /** Held-back objective of uniform and of tuned weights under the chosen method (mean over folds). */
  readonly heldBackUniform: number;
  readonly heldBackTuned: number;
  readonly weightsKept: boolean;
}

/** The Scorer's name of a merge: D2C's own cluster name for the untuned merge, so its cached losses count. */
function nameOf(members: readonly number[], merge: MergeOptions, untuned: MergeSettings): string {
  const plain = merge.method === untuned.method && merge.density === untuned.density && merge.rank === untuned.rank &&
    merge.seed === untuned.seed && (merge.weights ?? []).every((w) => w === 1 / members.length);
  return plain ? Scorer.cluster(members) : Scorer.tuned(members, merge);
}

/** Per-member per-example few-shot losses of one merge. */
async function memberLosses(scorer: Scorer, meter: Meter, members: readonly number[], merge: MergeOptions, untuned: MergeSettings): Promise<(readonly number[])[]> {
  const name = nameOf(members, merge, untuned);
  const out: (readonly number[])[] = [];
  for (const t of members) out.push((await scorer.score(name, t, "fewshot", meter)).losses);
  return out;
}

export async function tuneCluster(scorer: Scorer, meter: Meter, members: readonly number[], settings: TuneSettings): Promise<TunedCluster> {
  const sorted = [...members].sort((a, b) => a - b);
  const uniform = sorted.map(() => 1 / sorted.length);
  const untuned = { ...settings.methods[0], weights: uniform };
  if (sorted.length < 2) {
    return { members: sorted, merge: untuned, name: Scorer.cluster(sorted), heldBackUniform: NaN, heldBackTuned: NaN, weightsKept: false };
  }
  const objective = (losses: readonly (readonly number[])[], examples: (t: number) => readonly number[]) =>
    clusterObjective(losses.map((l, i) => subsetLoss(l, examples(i))), settings.penalty);
  // Every member's example indices (few-shot sets may differ in size).
  const allExamples: number[][] = [];
  for (const t of sorted) allExamples.push([...Array((await scorer.score(Scorer.cluster(sorted), t, "fewshot", meter)).losses.length).keys()]);

  // 1. Screen of methods and common scales, on every few-shot example: a few fixed candidates, no
  // parameter fitted, so the mean over held-back folds would be this same mean.
  let chosen: MergeOptions = untuned;
  let best = Infinity;
  for (const candidate of screenCandidates(settings.methods, settings.scales, sorted.length)) {
    const j = objective(await memberLosses(scorer, meter, sorted, candidate, settings.methods[0]), (i) => allExamples[i]);
    if (j < best) [best, chosen] = [j, candidate];
  }
  const { weights: start = uniform, ...method } = chosen;
  if (settings.budget <= 0) {
    return { members: sorted, merge: chosen, name: nameOf(sorted, chosen, settings.methods[0]), heldBackUniform: best, heldBackTuned: best, weightsKept: false };
  }

  // 2. Weights: CMA-ES per fold on the training examples, judged on the held-back ones.
  const folds = allExamples.map((examples, i) => exampleFolds(examples.length, settings.folds, (settings.seed + sorted[i]) >>> 0));
  const weightsOf = settings.scaleCoordinate ? scaledMergeWeights : mergeWeights;
  const x0 = settings.scaleCoordinate ? [Math.log(start[0] * sorted.length), ...sorted.map(() => 0)] : start.map((w) => Math.log(w * sorted.length));
  const evaluate = (x: readonly number[]) => memberLosses(scorer, meter, sorted, { ...method, weights: weightsOf(x) }, settings.methods[0]);
  // "Uniform" from here on is the screened start: uniform weights times the screened scale.
  const uniformLosses = await evaluate(x0);
  const solutions: number[][] = [];
  let heldBackUniform = 0;
  let heldBackTuned = 0;
  for (let f = 0; f < settings.folds; f++) {
    const run = await minimizeCmaes(async (x) => foldObjective(await evaluate(x), folds, f, "train", settings.penalty), {
      x0, sigma0: settings.sigma0, budget: settings.budget, seed: (settings.seed * 31 + f) >>> 0,
    });
    // The start point competes too: CMA-ES never evaluates x0 itself.
    const x = run.best!.f < foldObjective(uniformLosses, folds, f, "train", settings.penalty) ? run.best!.x : x0;
    solutions.push(x);
    heldBackUniform += foldObjective(uniformLosses, folds, f, "heldBack", settings.penalty) / settings.folds;
    heldBackTuned += foldObjective(await evaluate(x), folds, f, "heldBack", settings.penalty) / settings.folds;
  }
  const weightsKept = heldBackTuned < heldBackUniform;
  const x = weightsKept ? x0.map((_, d) => solutions.reduce((s, sol) => s + sol[d], 0) / solutions.length) : x0;
  const merge = { ...method, weights: weightsOf(x) };
  return { members: sorted, merge, name: nameOf(sorted, merge, settings.methods[0]), heldBackUniform, heldBackTuned, weightsKept };
}

/** Every cluster of an assignment tuned (label order); the names score the tuned merges. */
export async function tuneClusters(scorer: Scorer, meter: Meter, clusters: readonly (readonly number[])[], settings: TuneSettings): Promise<TunedCluster[]> {
  const out: TunedCluster[] = [];
  for (const members of clusters) out.push(await tuneCluster(scorer, meter, members, settings));
  return out;
}
