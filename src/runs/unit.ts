/**
 * An evaluation unit: one task's few-shot loss under one merged adapter. Messages carry ids and
 * digests only (a few hundred bytes against the Queue's 128 KB), and everything they name is
 * immutable, so evaluating a unit twice gives the same number.
 */
import { evaluate } from "../inference/evaluate";
import { loadModel } from "../inference/model";
import { parseExamples, type Example } from "../storage/examples";
import { readMergedAdapter } from "../storage/adapters";
import { examplesKey } from "../storage/keys";
import { sha256Hex } from "../storage/sha256";

export interface EvaluationUnit {
  readonly runId: string;
  /** `<iteration>:<task index>:<cluster>`, unique within the run. */
  readonly unitId: string;
  readonly modelId: string;
  readonly taskId: string;
  readonly fewshotSha256: string;
  readonly mergedSha256: string;
}

export interface UnitResult {
  readonly loss: number;
  readonly tokens: number;
  readonly ms: number;
}

export async function evaluateUnit(bucket: R2Bucket, unit: EvaluationUnit): Promise<UnitResult> {
  const model = await loadModel(bucket, unit.modelId);
  const [examples, adapter] = await Promise.all([
    pinnedFewShot(bucket, unit.taskId, unit.fewshotSha256),
    readMergedAdapter(bucket, unit.mergedSha256, model.contract.loraTargets),
  ]);
  const { loss, tokens, ms } = await evaluate(model, examples, adapter);
  return { loss, tokens, ms };
}

const fewShotCache = new Map<string, Example[]>();

/** The task's few-shot examples as the run pinned them; replaced examples are an error. */
async function pinnedFewShot(bucket: R2Bucket, taskId: string, sha256: string): Promise<Example[]> {
  const cached = fewShotCache.get(sha256);
  if (cached) return cached;
  const object = await bucket.get(examplesKey(taskId, "fewshot"));
  if (!object) throw new Error(`few-shot examples of ${taskId} are missing in R2`);
  const bytes = new Uint8Array(await object.arrayBuffer());
  if ((await sha256Hex(bytes)) !== sha256) throw new Error(`few-shot examples of ${taskId} changed since the run started`);
  const examples = parseExamples(new TextDecoder().decode(bytes));
  if (fewShotCache.size >= 256) fewShotCache.clear(); // 40 tasks' examples are ~100 KB; bound it anyway
  fewShotCache.set(sha256, examples);
  return examples;
}
