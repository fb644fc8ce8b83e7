/**
 * Queue consumers, one handler per message kind (src/queueMessages.ts). A run's work is leased
 * from the run's ledger: the consumer claims a message's items in one call (a duplicate delivery,
 * or work of a stopped run, is dropped before any forward pass), does them, and reports the
 * results in one call. A failure the domain names (an adapter the reader refuses) fails the item
 * at once, since no retry changes it; any other failure releases the item's claim and retries the
 * message with exponential backoff, its items already reported being dropped on the next delivery.
 * After the consumer's max_retries the message lands in the dead-letter queue, whose consumer
 * fails the run with the last error of an item that never reported. Units of a run on the
 * evaluator service (`evaluator: "remote"`) are forwarded to it, the same lease around them.
 */
import { DomainError } from "./errors";
import { IDLE_AFTER_UNIT_MS, nextTurn } from "./eventLoop";
import { clusterRun } from "./storage/runs";
import { evaluateRemotely } from "./runs/remoteUnit";
import { computeBlock, type SimilarityMessage } from "./runs/similarityBlocks";
import { subsetRequested } from "./workflows/subsetBuilds";
import { reportFinished, runFinished } from "./workflows/runFinished";
import { evaluateCandidate, type CandidateMessage } from "./runs/tuneCandidates";
import { evaluateUnit, type EvaluationUnit, type UnitMessage, type UnitReport } from "./runs/unit";
import { isRunWork, MESSAGE_KINDS, type QueueMessage, type RunWorkMessage, type WorkKind } from "./queueMessages";

type Run = ReturnType<typeof clusterRun>;

/** Dead-letter queues are named `<queue>-dlq` (wrangler.toml). */
const isDeadLetter = (queue: string) => queue.endsWith("-dlq");
/**
 * Deliveries of a message before it lands in the dead-letter queue: wrangler.toml's max_retries (3)
 * plus the first. The dead-letter delivery counts its own attempts from 1, so it cannot say.
 */
const DELIVERIES = 4;

/** The run and the ledger ids a message of run work carries. */
function leased(body: RunWorkMessage): { runId: string; kind: WorkKind; ids: string[] } {
  switch (body.kind) {
    case "similarity":
      return { runId: body.runId, kind: body.kind, ids: [body.blockId] };
    case "candidate":
      return { runId: body.runId, kind: body.kind, ids: [body.candidateId] };
    default:
      return { runId: body.units[0]?.runId ?? "", kind: body.kind, ids: body.units.map((u) => u.unitId) };
  }
}

export async function queue(batch: MessageBatch<QueueMessage>, env: Env): Promise<void> {
  // A message of no kind this code knows (sent by an older deploy) is dropped: the run's watchdog
  // re-sends its work in today's shape, and the cron takes up a subset message.
  const known = batch.messages.filter((m) => {
    if (MESSAGE_KINDS.has((m.body as { kind?: string } | null)?.kind ?? "")) return true;
    console.warn(`message ${m.id} has no known kind; dropped`);
    m.ack();
    return false;
  });
  if (isDeadLetter(batch.queue)) {
    for (const message of known) {
      // A need or a run's end that kept failing: the cron's pass over the profile's subsets takes it up.
      if (isRunWork(message.body)) {
        // An item that reported before the message gave up is left as it is by workFailed.
        const { runId, ids } = leased(message.body);
        for (const id of ids) await clusterRun(env, runId).workFailed(id, Math.max(DELIVERIES, message.attempts));
      }
      message.ack();
    }
    return;
  }
  const units = known.filter((m): m is Message<UnitMessage> => m.body.kind === "unit" || m.body.kind === "report");
  const isRemote = (m: Message<UnitMessage>) => m.body.units[0]?.evaluator === "remote";
  for (const message of known) {
    const body = message.body;
    if (body.kind === "subset-requested") await workflowMessage(message, () => subsetRequested(env, body));
    else if (body.kind === "run-finished") await workflowMessage(message, () => runFinished(env, body.runId));
    else if (body.kind === "report-finished") await workflowMessage(message, () => reportFinished(env, body.runId));
    else if (body.kind === "similarity") await runWork(message, body, env, (run) => similarityBlock(run, body, env));
    else if (body.kind === "candidate") await runWork(message, body, env, (run) => candidate(run, body, env));
  }
  // The service runs units side by side on its cores; this isolate has one single-threaded ONNX session.
  const remoteDone = Promise.all(units.filter(isRemote).map((m) => unitMessage(m, env, true)));
  for (const message of units.filter((m) => !isRemote(m))) await unitMessage(message, env, false);
  await remoteDone;
}

const backoff = (message: Message<unknown>) => ({ delaySeconds: Math.min(60, 2 ** (message.attempts - 1)) });
const reasonOf = (e: unknown) => (e instanceof Error ? e.message : String(e));

/** A message a workflow handles (src/workflows/): retried with backoff on any failure. */
async function workflowMessage(message: Message<QueueMessage>, handle: () => Promise<void>) {
  try {
    await handle();
    message.ack();
  } catch (e) {
    console.warn(`${message.body.kind} message ${message.id} failed (attempt ${message.attempts}): ${reasonOf(e)}`);
    message.retry(backoff(message));
  }
}

/**
 * A failed attempt at one item: a domain error fails it for good, anything else releases its
 * claim for the queue's retry. True when the message should be retried.
 */
async function failedAttempt(run: Run, id: string, what: string, message: Message<unknown>, e: unknown) {
  const reason = reasonOf(e);
  console.warn(`${what} failed (attempt ${message.attempts}): ${reason}`);
  if (e instanceof DomainError) {
    await run.workFailed(id, message.attempts, reason);
    return false;
  }
  await run.workError(id, reason).catch(() => undefined);
  return true;
}

/** One item carried alone by a message (a block of the Gram matrix, a merge candidate): claimed, done, reported. */
async function runWork(
  message: Message<QueueMessage>,
  body: RunWorkMessage,
  env: Env,
  work: (run: Run) => Promise<void>,
) {
  const { runId, kind, ids } = leased(body);
  try {
    const run = clusterRun(env, runId);
    if ((await run.claim(kind, ids)).length === 0) return message.ack();
    try {
      await work(run);
      message.ack();
    } catch (e) {
      if (await failedAttempt(run, ids[0], `${kind} ${runId}/${ids[0]}`, message, e)) message.retry(backoff(message));
      else message.ack();
    }
  } catch (e) {
    // The run object was unreachable: what it had claimed stays claimed until its watchdog re-sends it.
    console.warn(`message ${message.id} failed (attempt ${message.attempts}): ${reasonOf(e)}`);
    message.retry(backoff(message));
  }
}

async function similarityBlock(run: Run, body: SimilarityMessage, env: Env): Promise<void> {
  const { dots, multiplyAdds } = await computeBlock(env.BUCKET, body);
  await run.reportSimilarity(body.blockId, dots, multiplyAdds);
}

async function candidate(run: Run, body: CandidateMessage, env: Env): Promise<void> {
  await run.reportCandidate(body.candidateId, await evaluateCandidate(env.BUCKET, body));
}

/** Several units under one merged adapter: claimed in one call, evaluated, reported in one call. */
async function unitMessage(message: Message<UnitMessage>, env: Env, remote: boolean): Promise<void> {
  const { kind, units } = message.body;
  if (units.length === 0) return message.ack();
  try {
    const run = clusterRun(env, units[0].runId);
    const claimed = new Set(
      await run.claim(
        kind,
        units.map((u) => u.unitId),
      ),
    );
    const reports: UnitReport[] = [];
    let retry = false;
    const evaluateOne = async (unit: EvaluationUnit) => {
      try {
        const result = remote ? await evaluateRemotely(env, unit) : await evaluateUnit(env.BUCKET, unit);
        reports.push({ unitId: unit.unitId, result });
      } catch (e) {
        retry = (await failedAttempt(run, unit.unitId, `unit ${unit.runId}/${unit.unitId}`, message, e)) || retry;
      }
    };
    const todo = units.filter((u) => claimed.has(u.unitId));
    if (remote) await Promise.all(todo.map(evaluateOne));
    else {
      // A unit is ~40 ms of CPU and its reads are often cache hits (microtasks): idle time between
      // units lets requests in, instead of holding the isolate for the message's 16.
      const idleMs = env.UNIT_IDLE_MS === undefined ? IDLE_AFTER_UNIT_MS : Number(env.UNIT_IDLE_MS);
      for (const unit of todo) {
        await evaluateOne(unit);
        await nextTurn(idleMs);
      }
    }
    if (reports.length) await run.reportUnits(kind, reports);
    if (retry) message.retry(backoff(message));
    else message.ack();
  } catch (e) {
    console.warn(`message ${message.id} failed (attempt ${message.attempts}): ${reasonOf(e)}`);
    message.retry(backoff(message));
  }
}
