/**
 * Who listens for a run's end (the run's "run-finished" message; the run itself knows none of
 * them): the runs index records how it went, and a run started to build a per-device task set
 * publishes that set's release. A report's end ("report-finished") is the index's alone.
 */
import { clusterRun } from "../storage/runs";
import { indexRunOutcome } from "./runIndex";
import { finishSubsetRun } from "./subsetBuilds";

export async function runFinished(env: Env, runId: string): Promise<void> {
  await indexRunOutcome(env, runId);
  const subset = (await clusterRun(env, runId).config())?.subset;
  if (subset) await finishSubsetRun(env, subset.profile, subset.key, runId);
}

export async function reportFinished(env: Env, runId: string): Promise<void> {
  await indexRunOutcome(env, runId);
}
