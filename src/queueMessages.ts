/**
 * Every message the evaluations queue carries, told apart by `kind`. A run's work (few-shot units,
 * held-out units, similarity blocks, tuning candidates) is leased through the run's ledger
 * (durable-objects/workLedger.ts), whose rows carry the same kind; per-device task sets' messages
 * (a device's need, a subset run's end) are not leased: the cron takes up what they miss.
 */
import type { SubsetRequested, SubsetRunFinished } from "./delivery/subsetMessages";
import type { UnitMessage } from "./runs/evaluationUnit";
import type { SimilarityMessage } from "./runs/similarityBlocks";
import type { CandidateMessage } from "./runs/tuneCandidates";

/** The kinds of a run's leased work: few-shot units, held-out units, Gram blocks, merge candidates. */
export type WorkKind = "unit" | "report" | "similarity" | "candidate";

export type RunWorkMessage = UnitMessage | SimilarityMessage | CandidateMessage;

export type QueueMessage = RunWorkMessage | SubsetRequested | SubsetRunFinished;

export const isRunWork = (message: QueueMessage): message is RunWorkMessage =>
  message.kind === "unit" || message.kind === "report" || message.kind === "similarity" || message.kind === "candidate";
