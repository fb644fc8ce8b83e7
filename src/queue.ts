/**
 * Queue consumers. A unit is claimed from its run first (a duplicate delivery, or a unit of a
 * stopped run, is acked without a forward pass), evaluated and reported. A failure the domain
 * names (an adapter the reader refuses) fails the unit at once, since no retry changes it; any
 * other failure is retried with exponential backoff, and after the consumer's max_retries the
 * unit lands in the dead-letter queue, whose consumer fails the run with the unit's last error.
 */
import { DomainError } from "./errors";
import { clusterRun } from "./storage/runs";
import { evaluateUnit, type EvaluationUnit } from "./runs/unit";

/** Deliveries this isolate acked without evaluating (duplicates, units of stopped runs): what tests count. */
let dropped = 0;

export function unitsDropped(): number {
  return dropped;
}

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
      if (!(await run.claimUnit(unit.unitId))) {
        dropped++;
        message.ack();
        continue;
      }
      // One at a time: the isolate has one single-threaded ONNX session.
      await run.reportUnit(unit.unitId, await evaluateUnit(env.BUCKET, unit));
      message.ack();
    } catch (e) {
      const reason = e instanceof Error ? e.message : String(e);
      console.warn(`unit ${unit.runId}/${unit.unitId} failed (attempt ${message.attempts}): ${reason}`);
      if (e instanceof DomainError) {
        await run.unitFailed(unit.unitId, message.attempts, reason);
        message.ack();
        continue;
      }
      await run.unitError(unit.unitId, reason).catch(() => undefined);
      message.retry({ delaySeconds: Math.min(60, 2 ** (message.attempts - 1)) });
    }
  }
}
