/**
 * Who listens for a run's end (the run's "run-finished" message; the run itself knows none of
 * them): a run started to build a per-device task set publishes that set's release.
 */
import { clusterRun } from "../storage/runs";
import { finishSubsetRun } from "./subsetBuilds";

export async function runFinished(env: Env, runId: string): Promise<void> {
  const subset = (await clusterRun(env, runId).config())?.subset;
  if (subset) await finishSubsetRun(env, subset.profile, subset.key, runId);
}
