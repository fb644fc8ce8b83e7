/** `d2c-edge runs`: the recent clustering runs (GET /v1/runs), newest first, as an aligned table. */
import type { RunSummary } from "../src/runs/config.ts";
import { printJson, type Command } from "./command.ts";
import { dollars, duration, orDash, table, type Column } from "./table.ts";

const COLUMNS: readonly Column<RunSummary>[] = [
  { header: "run", cell: (r) => r.runId },
  // To the second: the milliseconds only widen the column.
  { header: "started", cell: (r) => r.createdAt.replace(/\.\d+Z$/, "Z") },
  { header: "state", cell: (r) => r.state ?? "-" },
  { header: "method", cell: (r) => r.method },
  { header: "K", cell: (r) => String(r.k), right: true },
  { header: "tasks", cell: (r) => String(r.tasks), right: true },
  { header: "J", cell: (r) => orDash(r.objective, (j) => j.toFixed(4)), right: true },
  { header: "held-out", cell: (r) => orDash(r.heldOut, (h) => `${(100 * h).toFixed(1)}%`), right: true },
  { header: "duration", cell: (r) => orDash(r.durationSeconds, duration), right: true },
  { header: "cost", cell: (r) => orDash(r.estimatedUsd, dollars), right: true },
  { header: "profile", cell: (r) => r.profile ?? "-" },
];

export const runs: Command = {
  name: "runs",
  usage: "[--json]",
  summary: "The recent clustering runs (the last 100), newest first: state, method, K, J, held-out, duration, cost.",
  help: `Columns: run id, start, state, method, K, tasks, few-shot J of the result, mean held-out exact
match (once \`d2c-edge report\` ran), duration, estimated cost at list prices, the profile it was
started for; "-" where the server reports nothing (yet). \`d2c-edge status <runId>\` shows one in full.

Options:
  --json           print GET /v1/runs as JSON`,
  options: {},
  positionals: [],
  async run({ values, api }) {
    const answer = await api.json<{ runs: RunSummary[] }>("GET", "/v1/runs");
    if (values.json) printJson(answer);
    else if (answer.runs.length === 0) console.log("no runs yet");
    else console.log(table(COLUMNS, answer.runs).join("\n"));
    return 0;
  },
};
