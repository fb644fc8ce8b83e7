/**
 * `d2c-tuned` (issue 15): each final cluster's merge chosen on its members' few-shot loss by the
 * pure state machine the Worker runs (src/tuning/cluster.ts): a screen of methods and common
 * scales, CMA-ES per held-back fold, tuned weights kept only if they beat the screened merge on
 * the held-back examples. The held-out split is never read here.
 */
import type { MergeOptions, MergeSettings } from "../../src/adapters/merge/index.ts";
import { askClusterTuning, createClusterTuning, tellClusterTuning } from "../../src/tuning/cluster.ts";
import { screenCandidates } from "../../src/tuning/screen.ts";
import { Scorer, type Meter } from "./scorer.ts";
import type { TuneSettings as TuningSettings } from "../../src/runs/config.ts";

/**
 * The Worker's tuning settings (src/runs/config.ts) with its densities resolved to the screened merges, and the seed.
 */
export interface TuneSettings extends Omit<TuningSettings, "densities"> {
  /** Merge settings screened at uniform weights; the first is the untuned merge (D2C's). */
  readonly methods: readonly MergeSettings[];
  /** Folds, CMA-ES and DARE seed. */
  readonly seed: number;
}

export interface TunedCluster {
  readonly members: readonly number[];
  /** The merge shipped (method, density, rank, weights in member order). */
  readonly merge: MergeOptions;
  /** Cluster name for the Scorer. */
  readonly name: string;
  /** Held-back objective of the screened merge and of the tuned weights (mean over folds). */
  readonly heldBackUniform: number;
  readonly heldBackTuned: number;
  readonly weightsKept: boolean;
}

/** The Scorer's name of a merge: D2C's own cluster name for the untuned merge, so its cached losses count. */
function nameOf(members: readonly number[], merge: MergeOptions, untuned: MergeSettings): string {
  const plain =
    merge.method === untuned.method &&
    merge.density === untuned.density &&
    merge.rank === untuned.rank &&
    merge.seed === untuned.seed &&
    (merge.weights ?? []).every((w) => w === 1 / members.length);
  return plain ? Scorer.cluster(members) : Scorer.tuned(members, merge);
}

/** Per-member per-example few-shot losses of one merge. */
async function memberLosses(
  scorer: Scorer,
  meter: Meter,
  members: readonly number[],
  merge: MergeOptions,
  untuned: MergeSettings,
): Promise<(readonly number[])[]> {
  const name = nameOf(members, merge, untuned);
  const out: (readonly number[])[] = [];
  for (const t of members) out.push((await scorer.score(name, t, "fewshot", meter)).losses);
  return out;
}

export async function tuneCluster(
  scorer: Scorer,
  meter: Meter,
  members: readonly number[],
  settings: TuneSettings,
): Promise<TunedCluster> {
  const sorted = [...members].sort((a, b) => a - b);
  const untuned = { ...settings.methods[0], weights: sorted.map(() => 1 / sorted.length) };
  // A task alone keeps its own adapter: nothing to weigh against.
  if (sorted.length < 2) {
    return {
      members: sorted,
      merge: untuned,
      name: Scorer.cluster(sorted),
      heldBackUniform: NaN,
      heldBackTuned: NaN,
      weightsKept: false,
    };
  }
  const exampleCounts: number[] = [];
  for (const t of sorted)
    exampleCounts.push((await scorer.score(Scorer.cluster(sorted), t, "fewshot", meter)).losses.length);
  let state = createClusterTuning({
    members: sorted,
    exampleCounts,
    candidates: screenCandidates(settings.methods, settings.scales, sorted.length),
    folds: settings.folds,
    budget: settings.budget,
    sigma0: settings.sigma0,
    penalty: settings.penalty,
    scaleCoordinate: settings.scaleCoordinate,
    seed: settings.seed,
  });
  // The same rounds the ClusterRun object fans out over the Queue, here one merge after another.
  while (state.phase !== "done") {
    const asked = askClusterTuning(state);
    const losses: (readonly number[])[][] = [];
    for (const merge of asked.merges)
      losses.push(await memberLosses(scorer, meter, sorted, merge, settings.methods[0]));
    state = tellClusterTuning(asked.state, losses);
  }
  const { merge, weightsKept } = state.result!;
  return {
    members: sorted,
    merge,
    name: nameOf(sorted, merge, settings.methods[0]),
    heldBackUniform: state.heldBackStart,
    heldBackTuned: state.heldBackTuned,
    weightsKept,
  };
}

/** Every cluster of an assignment tuned (label order); the names score the tuned merges. */
export async function tuneClusters(
  scorer: Scorer,
  meter: Meter,
  clusters: readonly (readonly number[])[],
  settings: TuneSettings,
): Promise<TunedCluster[]> {
  const out: TunedCluster[] = [];
  for (const members of clusters) out.push(await tuneCluster(scorer, meter, members, settings));
  return out;
}
