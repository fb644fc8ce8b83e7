/** `d2c-edge report <runId>`: the held-out report of a finished run, evaluated over the Worker's queue. */
import type { ReportView } from "../src/runs/status.ts";
import type { Command } from "./command.ts";

/** How often the CLI asks how far the report got. */
const POLL_MS = 500;

export const report: Command = {
  name: "report",
  usage: "<runId> [--json]",
  summary:
    "Held-out exact match of every task under its cluster's merged adapter (started once, then kept with the run).",
  help: `Starts the report (POST /v1/runs/:id/report), follows it to the end (GET .../report, progress on stderr)
and prints one line per task and the mean. Exit code 1 when the report failed.

Options:
  --json           print GET /v1/runs/:id/report as JSON instead of the table`,
  options: { json: { type: "boolean" } },
  positionals: ["runId"],
  async run({ values, positionals: [runId], api }) {
    let view = await api.json<ReportView>("POST", `/v1/runs/${runId}/report`);
    while (view.state === "running") {
      if (process.stderr.isTTY) process.stderr.write(`\r\x1b[Kheld-out: ${view.evaluated}/${view.total} tasks`);
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
      view = await api.json<ReportView>("GET", `/v1/runs/${runId}/report`);
    }
    if (process.stderr.isTTY) process.stderr.write("\r\x1b[K");
    if (values.json === true) console.log(JSON.stringify(view, null, 2));
    else console.log(table(view));
    return view.state === "done" ? 0 : 1;
  },
};

function table(view: ReportView): string {
  if (view.state === "failed") return `${view.runId}: report failed: ${view.reason}`;
  const width = Math.max(4, ...view.tasks.map((t) => t.task.length));
  return [
    `${"task".padEnd(width)}  cluster  exact match  loss`,
    ...view.tasks.map(
      (t) =>
        `${t.task.padEnd(width)}  ${String(t.cluster).padStart(7)}  ` +
        `${`${(100 * t.exactMatch).toFixed(1)}%`.padStart(11)}  ${t.loss.toFixed(4)}`,
    ),
    `mean exact match ${(100 * view.meanExactMatch!).toFixed(1)}% over ${view.tasks.length} tasks ` +
      `(${view.forwardPasses} forward passes)`,
  ].join("\n");
}
