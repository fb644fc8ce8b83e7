/** `d2c-edge run`: starts a clustering run (POST /v1/runs) and prints its id. */
import type { TaskRecord } from "../src/catalogue/task.ts";
import type { Api } from "./api.ts";
import { decimal, definedOnly, integer, list, printJson, text, type Command, type Values } from "./command.ts";
import { capabilitiesOf } from "./capabilities.ts";
import { UsageError } from "./errors.ts";
import { watchRun } from "./status.ts";
import { isGlob, matchTasks, patternsFromFile } from "./taskPatterns.ts";

export const run: Command = {
  name: "run",
  usage: "(--k N | --profile P | --max-adapters N | --max-bytes N) [options]",
  summary: "Start a clustering run and print its id (on stdout alone, for RUN=$(d2c-edge run ...)).",
  help: `K, from exactly one of:
  --k N              K merged adapters
  --profile P        the budget of device profile P (its rank too)
  --max-adapters N   a budget of N adapters
  --max-bytes N      a budget of N bytes (with --dtype fp16|fp32, default fp16)
Options:
  --method M         d2c (default), kmeans, random, merge-all (one adapter: no K option), own,
                     alloc (a parts profile's run, or --max-bytes: each task its own adapter compressed
                     to the part that spends the bytes best, measured on few-shot loss)
  --merge M          merge method (default: the Worker's); --rank N, --density D for the merges that
                     take them (d2c-edge capabilities lists the methods, their parameters and bounds)
  --restarts N       D2C from N seeded k-means starts, the one with the most few-shot examples right kept
                     (default 4 up to 200 tasks, else 1)
  --tune N           then tune each cluster's merge method and weights on few-shot loss,
                     N CMA-ES candidates per held-back fold and cluster
  --seed N           default 0
  --max-iterations N D2C iterations at most (default 10)
  --tasks a,b,...    these tasks only (default every task with few-shot examples); ids or globs
                     (* any characters, ? one: --tasks 'qa-*,gec-??'), matched against GET /v1/tasks
                     (the tasks of --model when given); a pattern that matches nothing is a usage error
  --tasks-from FILE  the same, one id or glob a line (# starts a comment); adds to --tasks
  --model M          the tasks of base model M (needed when the catalogue has several)
  --evaluator E      wasm (the Worker) or remote (the evaluator service); default the model's
  --watch            then follow it as \`d2c-edge status\` does
  --json             print POST /v1/runs's answer (with --watch, the finished run's GET /v1/runs/:id)`,
  options: {
    k: { type: "string" },
    profile: { type: "string" },
    "max-adapters": { type: "string" },
    "max-bytes": { type: "string" },
    dtype: { type: "string" },
    method: { type: "string" },
    merge: { type: "string" },
    rank: { type: "string" },
    density: { type: "string" },
    seed: { type: "string" },
    "max-iterations": { type: "string" },
    tasks: { type: "string" },
    "tasks-from": { type: "string" },
    model: { type: "string" },
    evaluator: { type: "string" },
    restarts: { type: "string" },
    tune: { type: "string" },
    watch: { type: "boolean" },
  },
  positionals: [],
  async run({ values, api }) {
    const request: Record<string, unknown> = definedOnly({
      k: integer(values, "k", 1),
      profile: text(values, "profile"),
      method: text(values, "method"),
      seed: integer(values, "seed"),
      maxIterations: integer(values, "max-iterations", 1),
      tasks: await chosenTasks(api, values),
      modelId: text(values, "model"),
      evaluator: text(values, "evaluator"),
      restarts: integer(values, "restarts", 1),
    });
    const budget = definedOnly({
      maxAdapters: integer(values, "max-adapters", 1),
      maxBytes: integer(values, "max-bytes", 1),
      dtype: text(values, "dtype"),
    });
    if (budget.dtype !== undefined && Object.keys(budget).length === 1)
      throw new UsageError("--dtype goes with --max-bytes or --max-adapters");
    if (Object.keys(budget).length > 0) request.budget = budget;
    const merge: Record<string, unknown> = definedOnly({
      method: text(values, "merge"),
      rank: integer(values, "rank", 1),
      density: decimal(values, "density"),
    });
    if (values.tune !== undefined) merge.tune = { budget: integer(values, "tune") };
    if (Object.keys(merge).length > 0) {
      request.merge = { method: merge.method ?? (await capabilitiesOf(api)).defaultMergeMethod, ...merge };
    }
    const started = await api.json<{ runId: string; k: number; tasks: number }>("POST", "/v1/runs", { json: request });
    const json = values.json === true;
    if (json && values.watch !== true) printJson(started);
    else if (!json) console.log(started.runId);
    console.error(`started ${started.runId}: K=${started.k} over ${started.tasks} tasks`);
    return values.watch === true ? watchRun(api, started.runId, json) : 0;
  },
};

/**
 * The request's task ids: plain ids go as given (the server names an unknown one); globs and
 * `--tasks-from` are matched against the catalogue first, so the run gets ids only.
 */
async function chosenTasks(api: Api, values: Values): Promise<string[] | undefined> {
  const given = list(values, "tasks") ?? [];
  const file = text(values, "tasks-from");
  const fromFile = file === undefined ? [] : await patternsFromFile(file);
  if (file === undefined && !given.some(isGlob)) return given.length ? given : undefined;
  const { tasks } = await api.json<{ tasks: TaskRecord[] }>("GET", "/v1/tasks");
  const model = text(values, "model");
  const candidates = model === undefined ? tasks : tasks.filter((t) => t.modelId === model);
  return [
    ...new Set([
      ...matchTasks(given, candidates, "--tasks"),
      ...matchTasks(fromFile, candidates, `--tasks-from ${file}`),
    ]),
  ].sort();
}
