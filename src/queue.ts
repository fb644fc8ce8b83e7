/**
 * Queue consumers. A unit is claimed from its run first (a duplicate delivery, or a unit of a
 * stopped run, is acked without a forward pass), evaluated and reported. A failure the domain
 * names (an adapter the reader refuses) fails the unit at once, since no retry changes it; any
 * other failure is retried with exponential backoff, and after the consumer's max_retries the
 * unit lands in the dead-letter queue, whose consumer fails the run with the unit's last error.
 * Units of a run on the evaluator service (`evaluator: "remote"`) are forwarded to it, the same
 * claim, report and retries around them.
 */
import { DomainError } from "./errors";
import { clusterRun } from "./storage/runs";
import { evaluateRemotely } from "./runs/remoteUnit";
import { evaluateUnit, type EvaluationUnit, type UnitResult } from "./runs/unit";

/** Deliveries this isolate acked without evaluating (duplicates, units of stopped runs): what tests count. */
let dropped = 0;

export function unitsDropped(): number {
  return dropped;
}

/** Dead-letter queues are named `<queue>-dlq` (wrangler.toml). */
const isDeadLetter = (queue: string) => queue.endsWith("-dlq");
/**
 * Deliveries of a unit before it lands in the dead-letter queue: wrangler.toml's max_retries (3)
 * plus the first. The dead-letter delivery counts its own attempts from 1, so it cannot say.
 */
const DELIVERIES = 4;

export async function queue(batch: MessageBatch<EvaluationUnit>, env: Env): Promise<void> {
  if (isDeadLetter(batch.queue)) {
    for (const message of batch.messages) {
      await clusterRun(env, message.body.runId).unitFailed(message.body.unitId, Math.max(DELIVERIES, message.attempts));
      message.ack();
    }
    return;
  }
  const remote = batch.messages.filter((m) => m.body.evaluator === "remote");
  const local = batch.messages.filter((m) => m.body.evaluator !== "remote");
  // The service runs units side by side on its cores; this isolate has one single-threaded ONNX session.
  const remoteDone = Promise.all(remote.map((m) => handle(m, env, evaluateRemotely)));
  for (const message of local) await handle(message, env, (e, unit) => evaluateUnit(e.BUCKET, unit));
  await remoteDone;
}

async function handle(
  message: Message<EvaluationUnit>, env: Env, evaluate: (env: Env, unit: EvaluationUnit) => Promise<UnitResult>,
): Promise<void> {
  const unit = message.body;
  const run = clusterRun(env, unit.runId);
  try {
    if (!(await run.claimUnit(unit.unitId))) {
      dropped++;
      message.ack();
      return;
    }
    await run.reportUnit(unit.unitId, await evaluate(env, unit));
    message.ack();
  } catch (e) {
    const reason = e instanceof Error ? e.message : String(e);
    console.warn(`unit ${unit.runId}/${unit.unitId} failed (attempt ${message.attempts}): ${reason}`);
    if (e instanceof DomainError) {
      await run.unitFailed(unit.unitId, message.attempts, reason);
      message.ack();
      return;
    }
    await run.unitError(unit.unitId, reason).catch(() => undefined);
    message.retry({ delaySeconds: Math.min(60, 2 ** (message.attempts - 1)) });
  }
}
