/**
 * An evaluation unit: one task's examples under one merged adapter. The run's few-shot units
 * (its loss matrix) and its held-out report units travel the same queue. Messages carry ids and
 * digests only (a few hundred bytes against the Queue's 128 KB), and everything they name is
 * immutable, so evaluating a unit twice gives the same number.
 */
import { evaluate } from "../inference/evaluate";
import { loadModel } from "../inference/model";
import { parseExamples, type Example } from "../storage/examples";
import { readMergedAdapter } from "../storage/adapters";
import { examplesKey, type Split } from "../storage/keys";
import { sha256Hex } from "../storage/sha256";
import type { EvaluationUnit, UnitResult } from "./evaluationUnit";

export type { EvaluationUnit, UnitResult } from "./evaluationUnit";

export const isHeldOutUnit = (unitId: string) => unitId.startsWith("test:");

export async function evaluateUnit(bucket: R2Bucket, unit: EvaluationUnit): Promise<UnitResult> {
  const model = await loadModel(bucket, unit.modelId);
  const [examples, adapter] = await Promise.all([
    pinnedExamples(bucket, unit.taskId, unit.split, unit.examplesSha256),
    readMergedAdapter(bucket, unit.mergedSha256, model.contract.loraTargets),
  ]);
  const { loss, exactMatch, examples: n, tokens, forwardPasses, ms } = await evaluate(model, examples, adapter);
  return { loss, exactMatch, examples: n, tokens, forwardPasses, ms };
}

/**
 * Parsed example sets by digest. Safe across a task's deletion only because the run compares
 * its pinned digests with the catalogue at every phase (durable-objects/ClusterRun.ts): a cache
 * hit can finish a unit, never a run over a deleted task.
 */
const examplesCache = new Map<string, Example[]>();

/** The task's examples as the unit pinned them; replaced examples are an error. */
async function pinnedExamples(bucket: R2Bucket, taskId: string, split: Split, sha256: string): Promise<Example[]> {
  const cached = examplesCache.get(sha256);
  if (cached) return cached;
  const what = split === "fewshot" ? "few-shot examples" : "test examples";
  const object = await bucket.get(examplesKey(taskId, split));
  if (!object) throw new Error(`${what} of ${taskId} are missing in R2`);
  const bytes = new Uint8Array(await object.arrayBuffer());
  if ((await sha256Hex(bytes)) !== sha256) throw new Error(`${what} of ${taskId} changed since the run started`);
  const examples = parseExamples(new TextDecoder().decode(bytes));
  if (examplesCache.size >= 256) examplesCache.clear(); // 40 tasks' examples are ~100 KB; bound it anyway
  examplesCache.set(sha256, examples);
  return examples;
}

/** Sends units in queue batches (at most 100 messages each). */
export async function sendUnits(queue: Queue, units: readonly EvaluationUnit[]): Promise<void> {
  for (let i = 0; i < units.length; i += 100) await queue.sendBatch(units.slice(i, i + 100).map((body) => ({ body })));
}
