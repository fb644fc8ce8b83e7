/**
 * Queue consumers. A message carries several units under one merged adapter (src/runs/unit.ts).
 * Its units are claimed from their run in one call (a duplicate delivery, or a unit of a stopped
 * run, is dropped without a forward pass), evaluated, and their results reported in one call.
 * A failure the domain names (an adapter the reader refuses) fails the unit at once, since no
 * retry changes it; any other failure releases that unit's claim and retries the message with
 * exponential backoff, its units already reported being dropped on the next delivery. After the
 * consumer's max_retries the message lands in the dead-letter queue, whose consumer fails the run
 * with the last error of a unit that never reported. Units of a run on the evaluator service
 * (`evaluator: "remote"`) are forwarded to it, the same claim, report and retries around them.
 * A large run's k-means start travels the same queue as blocks of its task similarities
 * (src/runs/similarityBlocks.ts), and a tuned run's merge candidates (src/runs/tuneCandidates.ts),
 * claimed, reported and retried the same way. Per-device task
 * sets' messages (a device's need, a subset run's end; src/delivery/subsetMessages.ts) travel it too.
 */
import { DomainError } from "./errors";
import { clusterRun } from "./storage/runs";
import { evaluateRemotely } from "./runs/remoteUnit";
import { computeBlock, isSimilarityMessage, type SimilarityMessage } from "./runs/similarityBlocks";
import { handleSubsetMessage } from "./delivery/subsetBuilds";
import { isSubsetMessage, type SubsetMessage } from "./delivery/subsetMessages";
import { evaluateCandidate, isCandidateMessage, type CandidateMessage } from "./runs/tuneCandidates";
import { evaluateUnit, unitsOf, type EvaluationUnit, type UnitMessage, type UnitReport, type UnitResult } from "./runs/unit";

/** Units this isolate dropped without evaluating (duplicates, units of stopped runs): what tests count. */
let dropped = 0;

export function unitsDropped(): number {
  return dropped;
}

/** Dead-letter queues are named `<queue>-dlq` (wrangler.toml). */
const isDeadLetter = (queue: string) => queue.endsWith("-dlq");
/**
 * Deliveries of a message before it lands in the dead-letter queue: wrangler.toml's max_retries (3)
 * plus the first. The dead-letter delivery counts its own attempts from 1, so it cannot say.
 */
const DELIVERIES = 4;

/** A run's message body: units (`UnitMessage`), one unit as sent before units were grouped, a block of a run's task similarities, or a merge candidate under tuning. */
type Body = UnitMessage | EvaluationUnit | SimilarityMessage | CandidateMessage;

/** The ids a message carries (units, or one similarity block) and its run. */
function idsOf(body: Body): { runId: string; ids: string[] } {
  if (isSimilarityMessage(body)) return { runId: body.runId, ids: [body.blockId] };
  if (isCandidateMessage(body)) return { runId: body.runId, ids: [body.candidateId] };
  const units = unitsOf(body);
  return { runId: units[0]?.runId ?? "", ids: units.map((u) => u.unitId) };
}

export async function queue(batch: MessageBatch<Body | SubsetMessage>, env: Env): Promise<void> {
  const subsetMessages = batch.messages.filter((m): m is Message<SubsetMessage> => isSubsetMessage(m.body));
  const runMessages = batch.messages.filter((m): m is Message<Body> => !isSubsetMessage(m.body));
  if (isDeadLetter(batch.queue)) {
    // A subset message that kept failing: the cron's pass over the profile's subsets takes it up.
    for (const message of subsetMessages) message.ack();
    for (const message of runMessages) {
      // A unit that reported before the message gave up is left as it is by unitFailed.
      const { runId, ids } = idsOf(message.body);
      for (const id of ids) await clusterRun(env, runId).unitFailed(id, Math.max(DELIVERIES, message.attempts));
      message.ack();
    }
    return;
  }
  for (const message of subsetMessages) {
    try {
      await handleSubsetMessage(env, message.body);
      message.ack();
    } catch (e) {
      console.warn(`subset message ${message.id} failed (attempt ${message.attempts}): ${e instanceof Error ? e.message : String(e)}`);
      message.retry(backoff(message));
    }
  }
  for (const message of runMessages.filter((m) => isSimilarityMessage(m.body) || isCandidateMessage(m.body))) await handle(message, env, false);
  const units = runMessages.filter((m) => !isSimilarityMessage(m.body) && !isCandidateMessage(m.body));
  const isRemote = (m: Message<Body>) => !isSimilarityMessage(m.body) && !isCandidateMessage(m.body) && unitsOf(m.body)[0]?.evaluator === "remote";
  // The service runs units side by side on its cores; this isolate has one single-threaded ONNX session.
  const remoteDone = Promise.all(units.filter(isRemote).map((m) => handle(m, env, true)));
  for (const message of units.filter((m) => !isRemote(m))) await handle(message, env, false);
  await remoteDone;
}

const backoff = (message: Message<unknown>) => ({ delaySeconds: Math.min(60, 2 ** (message.attempts - 1)) });

async function handle(message: Message<Body>, env: Env, remote: boolean): Promise<void> {
  try {
    const body = message.body;
    if (isSimilarityMessage(body)) {
      await singleMessage(message, body.runId, body.blockId, "similarity block", env, async (run) => {
        const { dots, multiplyAdds } = await computeBlock(env.BUCKET, body);
        await run.reportSimilarity(body.blockId, dots, multiplyAdds);
      });
    } else if (isCandidateMessage(body)) {
      await singleMessage(message, body.runId, body.candidateId, "tuning candidate", env, async (run) =>
        run.reportCandidate(body.candidateId, await evaluateCandidate(env.BUCKET, body)));
    } else await evaluateMessage(message, unitsOf(body), env, remote);
  } catch (e) {
    // The run object was unreachable: units it had claimed stay claimed until its watchdog re-sends them.
    console.warn(`message ${message.id} failed (attempt ${message.attempts}): ${e instanceof Error ? e.message : String(e)}`);
    message.retry(backoff(message));
  }
}

async function evaluateMessage(message: Message<Body>, units: readonly EvaluationUnit[], env: Env, remote: boolean): Promise<void> {
  if (units.length === 0) return message.ack();
  const run = clusterRun(env, units[0].runId);
  const claimed = new Set(await run.claimUnits(units.map((u) => u.unitId)));
  dropped += units.length - claimed.size;
  const reports: UnitReport[] = [];
  let retry = false;
  const evaluateOne = async (unit: EvaluationUnit) => {
    try {
      const result: UnitResult = remote ? await evaluateRemotely(env, unit) : await evaluateUnit(env.BUCKET, unit);
      reports.push({ unitId: unit.unitId, result });
    } catch (e) {
      const reason = e instanceof Error ? e.message : String(e);
      console.warn(`unit ${unit.runId}/${unit.unitId} failed (attempt ${message.attempts}): ${reason}`);
      if (e instanceof DomainError) return run.unitFailed(unit.unitId, message.attempts, reason);
      retry = true;
      await run.unitError(unit.unitId, reason).catch(() => undefined);
    }
  };
  const todo = units.filter((u) => claimed.has(u.unitId));
  if (remote) await Promise.all(todo.map(evaluateOne));
  else for (const unit of todo) await evaluateOne(unit);
  if (reports.length) await run.reportUnits(reports);
  if (retry) message.retry(backoff(message));
  else message.ack();
}

/**
 * One piece of a run's work carried alone by a message (a block of its task-vector Gram matrix,
 * or a merge candidate under tuning): claimed, done, reported, with the same failure rules as units.
 */
async function singleMessage(message: Message<Body>, runId: string, id: string, what: string, env: Env, work: (run: ReturnType<typeof clusterRun>) => Promise<void>): Promise<void> {
  const run = clusterRun(env, runId);
  if ((await run.claimUnits([id])).length === 0) {
    dropped++;
    return message.ack();
  }
  try {
    await work(run);
    message.ack();
  } catch (e) {
    const reason = e instanceof Error ? e.message : String(e);
    console.warn(`${what} ${runId}/${id} failed (attempt ${message.attempts}): ${reason}`);
    if (e instanceof DomainError) {
      await run.unitFailed(id, message.attempts, reason);
      return message.ack();
    }
    await run.unitError(id, reason).catch(() => undefined);
    message.retry(backoff(message));
  }
}
