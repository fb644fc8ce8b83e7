/** `d2c-edge cancel <runId>`: stops a running clustering run (POST /v1/runs/:id/cancel). */
import type { RunStatus } from "../src/runs/status.ts";
import { printJson, type Command } from "./command.ts";

export const cancel: Command = {
  name: "cancel",
  usage: "<runId> [--json]",
  summary: "Cancel a running clustering run; its queued work is dropped and it ends as cancelled.",
  help: `A run that already ended is left as it is (exit code 1): cancelling is for a run still running.
What the run had computed stays in the loss cache for the next run.

Options:
  --json           print POST /v1/runs/:id/cancel's answer (the run's status) as JSON`,
  options: {},
  positionals: ["runId"],
  async run({ values, positionals: [runId], api }) {
    // An ended run is the server's 409 run_ended, printed as the CLI prints every refusal.
    const after = await api.json<RunStatus>("POST", `/v1/runs/${encodeURIComponent(runId)}/cancel`);
    if (values.json) printJson(after);
    else
      console.log(
        `${runId}: ${after.state}${after.reason ? ` (${after.reason})` : ""}, ` +
          `stopped in ${after.phase} at iteration ${after.iteration}`,
      );
    return 0;
  },
};
