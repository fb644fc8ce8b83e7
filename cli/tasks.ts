/**
 * `d2c-edge tasks [list [pattern] | show <taskId> | delete <taskId> [--dry-run]]`: the catalogue's tasks
 * (GET /v1/tasks, GET and DELETE /v1/tasks/:id).
 */
import type { TaskRecord } from "../src/catalogue/task.ts";
import type { StoredProfile } from "../src/delivery/profiles.ts";
import type { Api } from "./api.ts";
import { printJson, type Command } from "./command.ts";
import { UsageError } from "./errors.ts";
import { matchTasks } from "./taskPatterns.ts";
import { table, type Column } from "./table.ts";

/** Enough of a sha256 to tell files apart in a table (`tasks show` has them whole). */
const short = (sha: string) => (sha ? sha.slice(0, 12) : "-");

const COLUMNS: readonly Column<TaskRecord>[] = [
  { header: "task", cell: (t) => t.id },
  { header: "model", cell: (t) => t.modelId },
  { header: "rank", cell: (t) => String(t.rank), right: true },
  { header: "fewshot", cell: (t) => String(t.examples.fewshot), right: true },
  { header: "test", cell: (t) => String(t.examples.test), right: true },
  { header: "adapter sha256", cell: (t) => short(t.adapterSha256) },
  { header: "fewshot sha256", cell: (t) => short(t.examplesSha256.fewshot) },
  { header: "test sha256", cell: (t) => short(t.examplesSha256.test) },
];

export const tasks: Command = {
  name: "tasks",
  usage: "[list [pattern] | show <taskId> | delete <taskId> [--dry-run]] [--json]",
  summary: "The catalogue's tasks: list them (model, rank, examples, digests), show one, or delete one.",
  help: `Actions:
  list [pattern]   (the default) one line per task: model, rank, few-shot and test examples, and the
                   first 12 hex digits of the adapter's and each split's sha256; a glob (* and ?) keeps
                   the tasks it matches
  show <taskId>    every field of one task, digests whole
  delete <taskId>  removes the task and its files from the catalogue (a new catalogue version: auto
                   profiles re-cluster); releases already published keep their merged adapters

Options:
  --dry-run        with delete: say what would be deleted and send nothing
  --json           print the server's answer (GET /v1/tasks, GET or DELETE /v1/tasks/:id) as JSON`,
  options: { "dry-run": { type: "boolean" } },
  positionals: [],
  optional: ["action", "arg"],
  async run({ values, positionals: [action = "list", arg], api }) {
    const json = values.json === true;
    if (values["dry-run"] && action !== "delete") throw new UsageError("--dry-run goes with delete");
    switch (action) {
      case "list":
        return list(api, arg, json);
      case "show": {
        const task = await api.json<TaskRecord>("GET", `/v1/tasks/${needId(action, arg)}`);
        if (json) printJson(task);
        else console.log(describe(task));
        return 0;
      }
      case "delete":
        return values["dry-run"] ? dryDelete(api, needId(action, arg), json) : remove(api, needId(action, arg), json);
      default:
        throw new UsageError(`unknown action ${JSON.stringify(action)}: list, show or delete`);
    }
  },
};

function needId(action: string, id: string | undefined): string {
  if (id === undefined) throw new UsageError(`${action} needs <taskId>`);
  return encodeURIComponent(id);
}

async function list(api: Api, pattern: string | undefined, json: boolean): Promise<number> {
  const answer = await api.json<{ tasks: TaskRecord[]; catalogueVersion: number }>("GET", "/v1/tasks");
  const ids = pattern === undefined ? null : new Set(matchTasks([pattern], answer.tasks, "tasks list"));
  const shown = ids ? answer.tasks.filter((t) => ids.has(t.id)) : answer.tasks;
  if (json) printJson(ids ? { ...answer, tasks: shown } : answer);
  else if (shown.length === 0) console.log(`no tasks yet (catalogue version ${answer.catalogueVersion})`);
  else {
    console.log(table(COLUMNS, shown).join("\n"));
    console.log(`${shown.length} of ${answer.tasks.length} tasks, catalogue version ${answer.catalogueVersion}`);
  }
  return 0;
}

function describe(t: TaskRecord): string {
  const split = (name: "fewshot" | "test") =>
    t.examples[name] ? `${t.examples[name]} examples, sha256 ${t.examplesSha256[name]}` : "none";
  return [
    `task ${t.id}`,
    `  model        ${t.modelId}`,
    `  application  ${t.application ?? "-"}`,
    `  language     ${t.language ?? "-"}`,
    `  rank         ${t.rank}`,
    `  adapter      ${t.bytes} B, sha256 ${t.adapterSha256}`,
    `  fewshot      ${split("fewshot")}`,
    `  test         ${split("test")}`,
    `  updated      ${t.updatedAt}`,
  ].join("\n");
}

async function remove(api: Api, id: string, json: boolean): Promise<number> {
  const answer = await api.json<{ deleted: string; catalogueVersion: number }>("DELETE", `/v1/tasks/${id}`);
  if (json) printJson(answer);
  else console.log(`deleted task ${answer.deleted} (catalogue version ${answer.catalogueVersion})`);
  return 0;
}

/** What delete would do, from GETs only: the task, and the profiles' named task sets that list it. */
async function dryDelete(api: Api, id: string, json: boolean): Promise<number> {
  const task = await api.json<TaskRecord>("GET", `/v1/tasks/${id}`);
  const { profiles } = await api.json<{ profiles: StoredProfile[] }>("GET", "/v1/profiles");
  const inSets = profiles.flatMap((p) =>
    Object.entries(p.taskSets ?? {})
      .filter(([, ids]) => ids.includes(task.id))
      .map(([name]) => `${p.id}/${name}`),
  );
  if (json) {
    printJson({ dryRun: true, wouldDelete: task, taskSets: inSets });
    return 0;
  }
  console.log(
    `would delete task ${task.id} (model ${task.modelId}, rank ${task.rank}, ${task.examples.fewshot} few-shot ` +
      `and ${task.examples.test} test examples) and its files; nothing was sent`,
  );
  if (inSets.length) console.log(`it is in the task sets ${inSets.join(", ")} (they would simply leave it out)`);
  return 0;
}
