/** How a run went, as the runs index keeps it (RunOutcome), read off the run's status. */
import type { RunOutcome } from "./config";
import type { RunStatus } from "./status";

export function runOutcome(status: RunStatus): RunOutcome {
  const stopped = status.state !== "running" && status.finishedAt !== null;
  const report = status.report;
  return {
    state: status.state,
    ...(status.result ? { objective: status.result.objective } : {}),
    ...(report?.state === "done" && report.meanExactMatch !== null ? { heldOut: report.meanExactMatch } : {}),
    ...(stopped
      ? { finishedAt: status.finishedAt!, durationSeconds: status.ms / 1000, estimatedUsd: status.cost.estimate.usd }
      : {}),
  };
}
