/**
 * Queue consumers. Evaluation units are evaluated and reported to their run; a failure is
 * retried with exponential backoff, and after the consumer's max_retries the unit lands in the
 * dead-letter queue, whose consumer fails the run with the unit's last error.
 */
import { clusterRun } from "./storage/runs";
import { evaluateUnit, type EvaluationUnit } from "./runs/unit";

/** Dead-letter queues are named `<queue>-dlq` (wrangler.toml). */
const isDeadLetter = (queue: string) => queue.endsWith("-dlq");

export async function queue(batch: MessageBatch<EvaluationUnit>, env: Env): Promise<void> {
  for (const message of batch.messages) {
    const unit = message.body;
    const run = clusterRun(env, unit.runId);
    if (isDeadLetter(batch.queue)) {
      await run.unitFailed(unit.unitId, message.attempts);
      message.ack();
      continue;
    }
    try {
      // One at a time: the isolate has one single-threaded ONNX session.
      await run.reportUnit(unit.unitId, await evaluateUnit(env.BUCKET, unit));
      message.ack();
    } catch (e) {
      const reason = e instanceof Error ? e.message : String(e);
      console.warn(`unit ${unit.runId}/${unit.unitId} failed (attempt ${message.attempts}): ${reason}`);
      await run.unitError(unit.unitId, reason).catch(() => undefined);
      message.retry({ delaySeconds: Math.min(60, 2 ** (message.attempts - 1)) });
    }
  }
}
