/**
 * The runs index's outcome fields (state, J, held-out, duration, cost: RunOutcome), copied from
 * the run's own status when it ends and when its report is done (both announced on the queue),
 * and when GET /v1/runs lists a row whose outcome is unknown or still "running": a row indexed
 * before the index kept outcomes, or whose announcement was lost, is right from the next listing on.
 */
import type { RunOutcome, RunSummary } from "../runs/config";
import { runOutcome } from "../runs/outcome";
import { catalogue } from "../storage/catalogue";
import { clusterRun } from "../storage/runs";

/**
 * Rows a listing reads from their runs at most: each is one call to a run's object, and a row reads as
 * running only while its run does (or once, right after its end was missed).
 */
const REFRESHED_PER_LISTING = 20;

/**
 * Copies the run's outcome into the index and returns it; null for a run with no status. An outcome still in
 * the state the index holds (`indexed`: a run still running) is not written again.
 */
export async function indexRunOutcome(
  env: Env,
  runId: string,
  indexed?: RunSummary["state"],
): Promise<RunOutcome | null> {
  const status = await clusterRun(env, runId).status();
  if (!status) return null;
  const outcome = runOutcome(status);
  if (outcome.state !== indexed) await catalogue(env).recordRunOutcome(runId, outcome);
  return outcome;
}

/** The newest `limit` runs, rows not known to have stopped read from their runs first. */
export async function listRuns(env: Env, limit: number): Promise<RunSummary[]> {
  const rows = await catalogue(env).runs(limit);
  const stale = rows.filter((r) => r.state === undefined || r.state === "running").slice(0, REFRESHED_PER_LISTING);
  const outcomes = new Map(
    await Promise.all(stale.map(async (r) => [r.runId, await indexRunOutcome(env, r.runId, r.state)] as const)),
  );
  // An outcome only gains fields as the run goes on, so it is laid over the row as it was.
  return rows.map((r) => ({ ...r, ...outcomes.get(r.runId) }));
}
