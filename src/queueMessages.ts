/**
 * Every message the evaluations queue carries, told apart by `kind`. A run's work (few-shot units,
 * held-out units, similarity blocks, tuning candidates) is leased through the run's ledger
 * (durable-objects/workLedger.ts), whose rows carry the same kind; a device's need and a run's or
 * its report's end are not leased: the cron, or the next runs listing, takes up what they miss.
 */
import type { SubsetRequested } from "./delivery/subsetMessages";
import type { UnitMessage } from "./runs/evaluationUnit";
import type { SimilarityMessage } from "./runs/similarityBlocks";
import type { CandidateMessage } from "./runs/tuneCandidates";

/** The kinds of a run's leased work: few-shot units, held-out units, Gram blocks, merge candidates. */
export const WORK_KINDS = ["unit", "report", "similarity", "candidate"] as const;
export type WorkKind = (typeof WORK_KINDS)[number];

export type RunWorkMessage = UnitMessage | SimilarityMessage | CandidateMessage;

/**
 * Every run announces its end, knowing nothing of who listens (src/workflows/runFinished.ts): a
 * subset build publishes the subset's release from it.
 */
export interface RunFinished {
  readonly kind: "run-finished";
  readonly runId: string;
}

/** A run's held-out report is done: the runs index takes its mean exact match (src/workflows/runFinished.ts). */
export interface ReportFinished {
  readonly kind: "report-finished";
  readonly runId: string;
}

export type QueueMessage = RunWorkMessage | SubsetRequested | RunFinished | ReportFinished;

/** Every kind a message can have; a body whose kind is not here was sent by other code. */
export const MESSAGE_KINDS: ReadonlySet<string> = new Set([
  ...WORK_KINDS,
  "subset-requested",
  "run-finished",
  "report-finished",
]);

export const isRunWork = (message: QueueMessage): message is RunWorkMessage =>
  (WORK_KINDS as readonly string[]).includes(message.kind);
