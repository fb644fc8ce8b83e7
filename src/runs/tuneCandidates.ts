/**
 * A merge candidate of a cluster under tuning (issue 15; src/tuning/cluster.ts), as one
 * queue message: the consumer merges the members with the candidate's weights and method
 * (written to R2 content-addressed, as every merged adapter) and evaluates each member's
 * few-shot examples under it, answering per-example losses, which the tuner splits into
 * held-back folds. Merging here, not in the run's object, spreads a generation's merges over
 * the consumers as its evaluations are.
 */
import type { MergeOptions } from "../adapters/merge";
import { evaluate } from "../inference/evaluate";
import { loadModel } from "../inference/model";
import { readMergedAdapter } from "../storage/adapters";
import type { RunTask } from "./config";
import { buildMergedAdapter } from "./merging";
import { pinnedExamples } from "./unit";

export interface CandidateMessage {
  readonly kind: "candidate";
  readonly runId: string;
  /** `tune:<cluster>:<tuner key>` */
  readonly candidateId: string;
  readonly modelId: string;
  readonly members: readonly Pick<RunTask, "id" | "adapterSha256" | "fewshotSha256">[];
  readonly merge: MergeOptions;
}

export interface CandidateResult {
  readonly sha256: string;
  readonly bytes: number;
  readonly rank: number;
  /** Per member, each few-shot example's loss. */
  readonly losses: number[][];
  readonly forwardPasses: number;
  readonly ms: number;
}

export async function evaluateCandidate(bucket: R2Bucket, message: CandidateMessage): Promise<CandidateResult> {
  const started = Date.now();
  const model = await loadModel(bucket, message.modelId);
  const targets = model.contract.loraTargets;
  const { weights, ...settings } = message.merge;
  const merged = await buildMergedAdapter(bucket, targets, message.members, settings, weights);
  const adapter = await readMergedAdapter(bucket, merged.sha256, targets);
  const losses: number[][] = [];
  let forwardPasses = 0;
  for (const member of message.members) {
    const result = await evaluate(
      model,
      await pinnedExamples(bucket, member.id, "fewshot", member.fewshotSha256),
      adapter,
    );
    losses.push(result.exampleLosses);
    forwardPasses += result.forwardPasses;
  }
  return { ...merged, losses, forwardPasses, ms: Date.now() - started };
}
