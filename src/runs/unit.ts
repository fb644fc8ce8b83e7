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
import { sendMessages } from "./queueBatches";
import { NO_ADAPTER, type EvaluationUnit, type UnitMessage, type UnitResult } from "./evaluationUnit";

export type { EvaluationUnit, UnitMessage, UnitReport, UnitResult } from "./evaluationUnit";

export async function evaluateUnit(bucket: R2Bucket, unit: EvaluationUnit): Promise<UnitResult> {
  const model = await loadModel(bucket, unit.modelId);
  const [examples, adapter] = await Promise.all([
    pinnedExamples(bucket, unit.taskId, unit.split, unit.examplesSha256),
    unit.mergedSha256 === NO_ADAPTER ? null : readMergedAdapter(bucket, unit.mergedSha256, model.contract.loraTargets),
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
export async function pinnedExamples(
  bucket: R2Bucket,
  taskId: string,
  split: Split,
  sha256: string,
): Promise<Example[]> {
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

/**
 * Units a queue message carries at most. Per unit, the Queue's three operations and the consumer's
 * two Durable Object calls cost about twice the unit's own CPU time (src/runs/price.ts: 35 ms of
 * reference-model inference); 16 units share them. A message of 16 stays near 6 KB (one 64 KB
 * Queue operation) and ~0.6 s of evaluation, so a consumer batch of 10 messages keeps well inside
 * the 30 s CPU default.
 */
export const UNITS_PER_MESSAGE = 16;

/**
 * Units grouped into messages: units under the same merged adapter together (read once per
 * message), each group split into near-equal messages of at most `perMessage`, in first-seen order.
 */
export function unitMessages(
  kind: UnitMessage["kind"],
  units: readonly EvaluationUnit[],
  perMessage = UNITS_PER_MESSAGE,
): UnitMessage[] {
  const groups = new Map<string, EvaluationUnit[]>();
  for (const unit of units) {
    const key = `${unit.runId}|${unit.mergedSha256}`;
    const group = groups.get(key);
    if (group) group.push(unit);
    else groups.set(key, [unit]);
  }
  return [...groups.values()].flatMap((group) => {
    const count = Math.ceil(group.length / perMessage);
    const size = Math.ceil(group.length / count);
    return Array.from({ length: count }, (_, i) => ({ kind, units: group.slice(i * size, (i + 1) * size) }));
  });
}

/** Sends units as messages (`unitMessages`) within the queue's batch limits; returns the messages sent. */
export async function sendUnits(
  queue: Queue,
  kind: UnitMessage["kind"],
  units: readonly EvaluationUnit[],
): Promise<number> {
  const messages = unitMessages(kind, units);
  await sendMessages(queue, messages);
  return messages.length;
}
