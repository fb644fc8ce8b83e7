/**
 * A clustering run as `GET /v1/runs/:id` shows it: plain data shared by the ClusterRun object
 * (durable-objects/runStatus.ts reads it from the run's tables), the API, the console and the CLI.
 * Free of Workers types, so the Node-side CLI imports it as it is.
 */
import type { Evaluator, MergeSettings, RunMethod, TuneSettings } from "./config";
import type { CostEstimate } from "./price";
import type { PartDtype } from "../adapters/parts/quantize";

/** "similarity": a large run's k-means start, its Gram matrix computed in blocks on the queue. */
export type RunPhase = "init" | "similarity" | "merge" | "evaluate" | "reassign" | "tune";
export type RunState = "running" | "done" | "failed" | "cancelled";

export interface ClusterView {
  readonly cluster: number;
  readonly tasks: string[];
  /** The merged adapter that ships: the tuned merge where the run tuned this cluster. */
  readonly sha256: string;
  readonly bytes: number;
  readonly rank: number;
  /** What merge tuning chose for this cluster (runs with `merge.tune`, clusters of two or more tasks). */
  readonly tuned?: TunedCluster;
  /**
   * An "alloc" run's cluster is one task: its own adapter as this private part (`bytes`: the part
   * file's, what a device stores), or null when the base model served it better per byte
   * (`sha256` "none", 0 bytes).
   */
  readonly part?: { readonly rank: number; readonly dtype: PartDtype } | null;
}

/**
 * A cluster's tuned merge: the screened method and common scale (uniform weights times c), then
 * the per-task weights CMA-ES found, kept only when they beat the screened merge on held-back examples.
 */
export interface TunedCluster {
  /** Method, density, rank and seed of the merge. */
  readonly merge: MergeSettings;
  /** One weight per task of the cluster, in its task order (uniform is 1/n each). */
  readonly weights: readonly number[];
  /** Whether CMA-ES's weights beat the screened merge on held-back examples (else the screened merge ships). */
  readonly weightsKept: boolean;
  /** Mean over folds of the few-shot objective on held-back examples: the screened merge, and CMA-ES's weights. */
  readonly heldBackScreened: number;
  readonly heldBackTuned: number;
  /** Distinct merges evaluated for this cluster. */
  readonly candidates: number;
}

/** A merged cluster of one iteration, without its member list (`size` members). */
export interface MergedClusterView {
  readonly cluster: number;
  readonly size: number;
  readonly sha256: string;
  readonly bytes: number;
  readonly rank: number;
}

/**
 * One iteration in the run's summary: sized by K, not by N. Its assignment and loss matrix come
 * from `GET /v1/runs/:id/losses?iteration=I` (a `LossPage` of tasks).
 */
export interface IterationView {
  readonly iteration: number;
  /** The D2C trajectory (seeded start) it belongs to: 0 unless the run restarts. */
  readonly restart: number;
  /** J: mean few-shot loss of the tasks under their clusters; null while evaluating. */
  readonly objective: number | null;
  /**
   * Mean over tasks of the share of few-shot examples greedy decoding gets right under their clusters (what restarts
   * are kept by); null while evaluating, or where a cached loss lacks it.
   */
  readonly fewShotExactMatch: number | null;
  /** Every task under every cluster (D2C's full schedule, the first iteration, and pruned D2C's verifying sweeps). */
  readonly full: boolean;
  /**
   * Units (task x merged adapter) the iteration needs, and how many have a loss (cache hits included); 0 before they
   * are planned.
   */
  readonly units: number;
  readonly evaluated: number;
  readonly clusters: MergedClusterView[];
}

/** One task's row of an iteration's loss matrix. */
export interface LossRow {
  readonly task: string;
  /** The task's cluster in this iteration's assignment. */
  readonly cluster: number;
  /** Few-shot loss under every cluster, null where not evaluated (yet). */
  readonly losses: (number | null)[];
}

/** A page of an iteration's loss matrix: tasks offset..offset+limit in the run's task order. */
export interface LossPage {
  readonly runId: string;
  readonly iteration: number;
  readonly k: number;
  readonly offset: number;
  readonly limit: number;
  /** Tasks in the run (rows in the whole matrix). */
  readonly total: number;
  readonly rows: LossRow[];
}

/** One task's held-out (test split) score under its result cluster's merged adapter. */
export interface HeldOutRow {
  readonly task: string;
  readonly cluster: number;
  readonly exactMatch: number;
  readonly loss: number;
  readonly examples: number;
}

/**
 * The held-out report of a finished run (`POST /v1/runs/:id/report` starts it): one queue unit
 * per task, stored with the run as each reports.
 */
export interface ReportView {
  readonly runId: string;
  readonly state: "running" | "done" | "failed";
  readonly reason: string | null;
  /** Tasks evaluated so far, of `total`. */
  readonly evaluated: number;
  readonly total: number;
  /** Mean exact match over the tasks, once every task reported. */
  readonly meanExactMatch: number | null;
  /** Forward passes the evaluator counted for the report's units. */
  readonly forwardPasses: number;
  /** The rows evaluated so far, by task id. */
  readonly tasks: HeldOutRow[];
}

export interface RunCost {
  /** Task x merged adapter evaluations the run needed. */
  readonly units: number;
  readonly cacheHits: number;
  /** Forward passes counted by the evaluator for the units it evaluated (each unit once). */
  readonly forwardPasses: number;
  /** Evaluations of the naive schedule: every task under every cluster, every iteration. */
  readonly naiveUnits: number;
  /**
   * Sum of the evaluated units' milliseconds, as the evaluator measured them (the Workers CPU time it bills, for the
   * in-Worker path).
   */
  readonly evaluationMs: number;
  /** Queue messages sent (first sends and re-sends), the similarity blocks' included. */
  readonly messages: number;
  /**
   * A large run's k-means start computed on the queue (src/runs/similarityBlocks.ts): blocks, and the multiply-adds the
   * consumers counted.
   */
  readonly similarity: { readonly blocks: number; readonly multiplyAdds: number };
  /** Merge tuning: candidate merges evaluated and the forward passes they took (also counted in forwardPasses). */
  readonly tuning: { readonly candidates: number; readonly forwardPasses: number };
  /** What the run would cost on Cloudflare at list prices (src/runs/price.ts names each price and its source). */
  readonly estimate: CostEstimate;
}

export interface RunResult {
  readonly iteration: number;
  /** J of what ships: the tuned merges' few-shot losses where the run tuned them. */
  readonly objective: number;
  /** J of the iteration's uniform merges, where tuning replaced them. */
  readonly untunedObjective?: number;
  readonly assignment: Record<string, number>;
  readonly clusters: ClusterView[];
  readonly taskLoss: Record<string, number>;
  /** An "alloc" run: the byte budget it spent and the bytes its parts take. */
  readonly budget?: { readonly maxBytes: number; readonly bytes: number };
}

export interface RunStatus {
  readonly runId: string;
  readonly state: RunState;
  readonly phase: RunPhase;
  readonly reason: string | null;
  readonly modelId: string;
  readonly method: RunMethod;
  readonly k: number;
  readonly merge: MergeSettings;
  readonly seed: number;
  readonly maxIterations: number;
  /** Merge tuning settings; null: uniform weights ship. */
  readonly tune: TuneSettings | null;
  /** Seeded D2C starts the run makes (1: no restart), and which one's clustering it keeps. */
  readonly restarts: number;
  readonly restartCriterion: "exactMatch" | "loss";
  /** Who evaluated the run's units: the Worker's onnxruntime-web or the evaluator service. */
  readonly evaluator: Evaluator;
  readonly tasks: string[];
  readonly catalogueVersion: number;
  readonly iteration: number;
  readonly iterations: IterationView[];
  /** The best iteration (lowest J) once the run is done. */
  readonly result: RunResult | null;
  readonly cost: RunCost;
  /** The held-out report, once asked for. */
  readonly report: ReportView | null;
  readonly createdAt: string;
  readonly finishedAt: string | null;
  readonly ms: number;
}
