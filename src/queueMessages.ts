/**
 * Every message the evaluations queue carries, told apart by `kind`. A run's work (few-shot units,
 * held-out units, similarity blocks, tuning candidates) is leased through the run's ledger
 * (durable-objects/workLedger.ts), whose rows carry the same kind; a device's need and a run's end
 * are not leased: the cron takes up what they miss.
 */
import type { SubsetRequested } from "./delivery/subsetMessages";
import type { UnitMessage } from "./runs/evaluationUnit";
import type { SimilarityMessage } from "./runs/similarityBlocks";
import type { CandidateMessage } from "./runs/tuneCandidates";

/** The kinds of a run's leased work: few-shot units, held-out units, Gram blocks, merge candidates. */
export type WorkKind = "unit" | "report" | "similarity" | "candidate";

export type RunWorkMessage = UnitMessage | SimilarityMessage | CandidateMessage;

/**
 * Every run announces its end, knowing nothing of who listens (src/workflows/runFinished.ts): a
 * subset build publishes the subset's release from it.
 */
export interface RunFinished {
  readonly kind: "run-finished";
  readonly runId: string;
}

export type QueueMessage = RunWorkMessage | SubsetRequested | RunFinished;

export const isRunWork = (message: QueueMessage): message is RunWorkMessage =>
  message.kind === "unit" || message.kind === "report" || message.kind === "similarity" || message.kind === "candidate";
