/** What a clustering run was asked to do, fixed when it starts (POST /v1/runs). */
import type { LoraTarget } from "../adapters/factors";
import type { MergeSettings } from "../adapters/merge";
import type { PruneSettings } from "../clustering/pruned";
import type { RestartCriterion } from "../tuning/restarts";
import type { PartConfig } from "../budget/candidates";
import type { RunState } from "./status";

/**
 * "own": each task its own adapter (K = N), the 100%-storage baseline and a small per-device task
 * set's release. "alloc": a byte budget spent by measured quality (issue 21): each task its own
 * adapter compressed to the part configuration, or none, that the budget's knapsack picks.
 */
export type RunMethod = "d2c" | "kmeans" | "random" | "merge-all" | "own" | "alloc";
export const RUN_METHODS = [
  "d2c",
  "kmeans",
  "random",
  "merge-all",
  "own",
  "alloc",
] as const satisfies readonly RunMethod[];

export type { MergeSettings };

/**
 * Who evaluates a run's units: the Worker's onnxruntime-web ("wasm") or the evaluator service at EVALUATOR_URL
 * ("remote").
 */
export type Evaluator = "wasm" | "remote";
export const EVALUATORS = ["wasm", "remote"] as const satisfies readonly Evaluator[];

/** Merge tuning of the final clusters (issue 15; src/tuning/cluster.ts). */
export interface TuneSettings {
  /** CMA-ES candidate evaluations per fold and cluster. */
  readonly budget: number;
  /** Held-back folds of each task's few-shot examples. */
  readonly folds: number;
  /** Weight of the worst member's loss in the objective (0: the members' mean). */
  readonly penalty: number;
  /** CMA-ES initial step, in log-weight units. */
  readonly sigma0: number;
  /** Densities the pruning merge methods are screened at ([]: the run's merge method only). */
  readonly densities: readonly number[];
  /** Common scales of uniform weights screened with each method (1 among them). */
  readonly scales: readonly number[];
  /** CMA-ES moves a shared log scale as a coordinate of its own, beside each task's log weight. */
  readonly scaleCoordinate: boolean;
}

/**
 * Merge tuning's defaults, the Worker's and the experiment's (chosen on K = 5, seeds 0-2:
 * docs/tuning.md): svd screened at 1-2 times uniform weights, pruning methods off (no held-out
 * gain, 3x the run time), CMA-ES with a shared scale coordinate, 24 candidates per fold.
 */
export const DEFAULT_TUNE: TuneSettings = {
  budget: 24,
  folds: 2,
  penalty: 0,
  sigma0: 1,
  densities: [],
  scales: [1, 1.25, 1.5, 2],
  scaleCoordinate: true,
};

/** A task as the run saw it when it started: later catalogue changes do not leak into a run. */
export interface RunTask {
  readonly id: string;
  readonly adapterSha256: string;
  readonly fewshotSha256: string;
  /** Few-shot examples: forward passes per evaluation are ceil(fewshot / MAX_BATCH). */
  readonly fewshot: number;
  readonly application?: string;
  readonly language?: string;
}

export interface RunConfig {
  readonly runId: string;
  readonly modelId: string;
  /** Sorted by id; assignments index into this list. */
  readonly tasks: readonly RunTask[];
  readonly k: number;
  readonly method: RunMethod;
  /** The merge applied to every cluster during clustering, with uniform weights over the cluster's tasks. */
  readonly merge: MergeSettings;
  /** After clustering, each cluster's merge method and weights tuned on few-shot loss; absent: uniform weights ship. */
  readonly tune?: TuneSettings;
  readonly seed: number;
  /** Assignments evaluated at most (D2C); the baselines evaluate one. */
  readonly maxIterations: number;
  /** Warm start: cluster per task (index-aligned with tasks) instead of k-means. */
  readonly initialAssignment?: readonly number[];
  /**
   * false: merges and losses are computed afresh, not read from the cache (they are still recorded). Absent in runs
   * stored before it: true.
   */
  readonly cache?: boolean;
  /**
   * D2C from this many seeded k-means starts (src/tuning/restarts.ts), one after another in the
   * same run and sharing its loss cache; the result is the best iteration (lowest few-shot J) of
   * the trajectory kept by `restartCriterion`. Absent (runs stored before it): 1.
   */
  readonly restarts?: number;
  /** Which restart's clustering is kept (src/tuning/restarts.ts `keptRestart`). Absent: "exactMatch". */
  readonly restartCriterion?: RestartCriterion;
  /** Pruned D2C's settings; null or absent (runs stored before it, baselines, `"prune": false`): the full schedule. */
  readonly prune?: PruneSettings | null;
  /**
   * Who evaluates the run's units (the request's choice, else the model's). Absent in runs stored before it: "wasm".
   */
  readonly evaluator?: Evaluator;
  /**
   * An "alloc" run's parts: iteration 0 measures every task under the base model, iteration i
   * under its own adapter as the private part `configs[i - 1]`; then the knapsack picks, per task,
   * the iteration whose part (bytes, few-shot loss) spends `maxBytes` best (src/budget/allocate.ts).
   */
  readonly parts?: { readonly configs: readonly PartConfig[]; readonly maxBytes: number };
  /** The per-device task set the run builds (issue 14): when it ends, a queue message has its release published. */
  readonly subset?: { readonly profile: string; readonly key: string };
  /** A unit not reported within this time is sent again by the run's alarm. */
  readonly unitTimeoutMs: number;
  /** The catalogue version the run's tasks were read at (a release records it; cron compares). */
  readonly catalogueVersion: number;
  /** The model's LoRA targets as registered when the run started: every merge of the run uses these. */
  readonly loraTargets: readonly LoraTarget[];
  readonly createdAt: string;
}

/**
 * A line of the runs index (`GET /v1/runs`): what the run was asked, and how it went (RunOutcome, below);
 * plain data, shared with the CLI and the console.
 */
export interface RunSummary extends Partial<RunOutcome> {
  readonly runId: string;
  readonly createdAt: string;
  readonly method: string;
  readonly k: number;
  readonly tasks: number;
  readonly profile?: string;
}

/**
 * What the runs index keeps of how a run went: "running" from its start, the rest once it ends
 * (src/workflows/runIndex.ts), `heldOut` once its report is done. A field the run has no value
 * for is absent; so is `state` on a row indexed before the index kept it and not read since.
 */
export interface RunOutcome {
  readonly state: RunState;
  /** J of what ships: the kept iteration's mean few-shot loss (`result.objective` of GET /v1/runs/:id). */
  readonly objective?: number;
  /** Mean held-out exact match of the run's report, once the report is done. */
  readonly heldOut?: number;
  /** ISO time the run stopped (done, failed or cancelled). */
  readonly finishedAt?: string;
  /** From start to stop. */
  readonly durationSeconds?: number;
  /** What the run cost at list prices (`cost.estimate.usd` of GET /v1/runs/:id), once it stopped. */
  readonly estimatedUsd?: number;
}
