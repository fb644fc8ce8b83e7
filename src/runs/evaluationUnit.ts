/**
 * An evaluation unit and its result as plain data: the queue message, and what the evaluator
 * (this Worker or the evaluator service, evaluator/) answers. Free of Workers types, so the
 * Node-side service imports it as it is.
 */
import type { Evaluation } from "../inference/evaluate";
import type { Split } from "../storage/keys";
import type { Evaluator } from "./config";

/** The "merged adapter" of no adapter at all: the unit evaluates the base model. */
export const NO_ADAPTER = "none";

export interface EvaluationUnit {
  readonly runId: string;
  /** `<iteration>:<task index>:<cluster>` for a few-shot unit, `test:<task index>` for a held-out one. */
  readonly unitId: string;
  readonly modelId: string;
  readonly taskId: string;
  /** fewshot: a loss of the run's matrix; test: a row of the held-out report. */
  readonly split: Split;
  /** sha256 of the split's JSONL as pinned when the unit was created. */
  readonly examplesSha256: string;
  /** The merged adapter's sha256, or NO_ADAPTER: the base model alone (an alloc run's option of no part). */
  readonly mergedSha256: string;
  /**
   * "remote": the queue consumer forwards the unit to the evaluator service (src/runs/remoteUnit.ts). Absent: "wasm".
   */
  readonly evaluator?: Evaluator;
}

/**
 * A unit's scores, as the evaluator computed and counted them (src/inference/evaluate.ts); per-example losses stay with
 * merge tuning.
 */
export type UnitResult = Omit<Evaluation, "exampleLosses">;

/** One unit's result as the consumer reports it to the run. */
export interface UnitReport {
  readonly unitId: string;
  readonly result: UnitResult;
}

/**
 * A queue message: several units of one run under one merged adapter (src/runs/unit.ts,
 * `unitMessages`), so the consumer claims and reports them in one call each and reads the
 * adapter once.
 */
export interface UnitMessage {
  /** "unit": few-shot units of the run's loss matrix; "report": held-out units of its report. */
  readonly kind: "unit" | "report";
  readonly units: readonly EvaluationUnit[];
}
