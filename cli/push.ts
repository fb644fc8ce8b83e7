/**
 * `d2c-edge push <dir>`: every PEFT adapter folder under <dir> and its examples, through the
 * same upload routes as scripts/seed.ts (the server validates; the CLI reports its reasons).
 */
import { openAsBlob } from "node:fs";
import { join } from "node:path";
import { HttpError, type Api } from "./api.ts";
import { integer, printJson, type Command } from "./command.ts";
import { ProgressBar } from "./progressBar.ts";
import { dryPush } from "./pushDryRun.ts";
import { ADAPTER_FILES, MODEL_FILES, SPLITS, planPush, type ModelFolder, type TaskFolder } from "./taskFolders.ts";

interface Outcome {
  readonly id: string;
  /** Why the task (or one of its files) was refused; absent when everything went up. */
  readonly refused?: string;
  readonly splits: string[];
  /** The server already held the adapter and every split exactly as pushed: nothing changed (200 unchanged). */
  readonly unchanged: boolean;
  /** The server's answer to each upload that went through: adapter, fewshot, test. */
  readonly answers: Record<string, unknown>;
}

export const push: Command = {
  name: "push",
  usage: "<dir> [--concurrency N] [--dry-run] [--json]",
  summary: "Upload every PEFT adapter folder under <dir> with its examples; report what was refused and why.",
  help: `Layouts:
  r2-fixtures  <dir>/models/<modelId>/ (registered first when missing), <dir>/adapters/<task>/,
               <dir>/examples/<task>/{fewshot,test}.jsonl, optional <dir>/catalogue.json
               { "tasks": [{ "id", "application", "language" }] }
  flat         <dir>/<task>/{adapter_config.json,adapter_model.safetensors} with optional
               fewshot.jsonl, test.jsonl, task.json { "application"?, "language"? }
The task id is the folder's name. A task the server already holds exactly as pushed (its files'
sha256 digests) is reported unchanged, and the catalogue version stays. Exit code 1 when anything
was refused.

Options:
  --concurrency N  tasks uploaded at once (default 4)
  --dry-run        compare the folders with the catalogue by sha256 (GET /v1/tasks, GET /v1/models/:id)
                   and say which tasks are new, changed (which files) or unchanged; send nothing
  --json           print, per model and task, the server's answers to its uploads (or, with --dry-run,
                   the comparison) as JSON`,
  options: { concurrency: { type: "string" }, "dry-run": { type: "boolean" } },
  positionals: ["dir"],
  async run({ values, positionals, api }) {
    const concurrency = integer(values, "concurrency", 1) ?? 4;
    const plan = await planPush(positionals[0]);
    if (values["dry-run"]) return dryPush(api, plan, positionals[0], values.json === true);
    const bar = new ProgressBar(plan.tasks.length, "tasks");
    const refusedModels: string[] = [];
    const models: { id: string; outcome: string; answer?: unknown }[] = [];
    for (const model of plan.models) {
      try {
        const { outcome, answer } = await registerModel(api, model);
        models.push({ id: model.id, outcome, ...(answer === undefined ? {} : { answer }) });
        bar.note(`model ${model.id}: ${outcome}`);
      } catch (e) {
        if (!refusal(e)) throw e;
        refusedModels.push(`model ${model.id}: ${e.message}`);
        models.push({ id: model.id, outcome: `refused: ${e.message}` });
        bar.note(`model ${model.id}: refused`);
      }
    }
    const outcomes = await inPool(plan.tasks, concurrency, async (task) => {
      const outcome = await pushTask(api, task);
      bar.step(
        outcome.refused
          ? `${task.id} refused`
          : outcome.unchanged
            ? `${task.id}: unchanged`
            : `${task.id} uploaded${outcome.splits.length ? ` with ${outcome.splits.join(", ")}` : ""}`,
      );
      return outcome;
    });
    bar.finish();
    const failed = refusedModels.length + outcomes.filter((o) => o.refused).length ? 1 : 0;
    if (values.json) {
      printJson({ url: api.url, layout: plan.layout, models, tasks: outcomes });
      return failed;
    }
    const accepted = outcomes.filter((o) => !o.refused);
    const uploaded = accepted.filter((o) => !o.unchanged);
    const unchanged = accepted.filter((o) => o.unchanged);
    const refused = outcomes.filter((o) => o.refused);
    console.log(`pushed ${plan.layout} layout from ${positionals[0]} to ${api.url}`);
    console.log(
      `uploaded ${uploaded.length} of ${outcomes.length} ` +
        `tasks${uploaded.length ? `: ${uploaded.map((o) => o.id).join(" ")}` : ""}`,
    );
    if (unchanged.length)
      console.log(`unchanged ${unchanged.length} of ${outcomes.length} tasks (the server held them as pushed)`);
    const noFewshot = accepted.filter((o) => !o.splits.includes("fewshot"));
    if (noFewshot.length)
      console.log(`without few-shot examples (runs leave them out): ${noFewshot.map((o) => o.id).join(" ")}`);
    if (refused.length + refusedModels.length) {
      console.log(
        `refused ${refused.length} ` +
          `task${refused.length === 1 ? "" : "s"}` +
          `${refusedModels.length ? ` and ${refusedModels.length} model(s)` : ""}` +
          `:`,
      );
      for (const line of refusedModels) console.log(`  ${line}`);
      for (const o of refused) console.log(`  ${o.id}: ${o.refused}`);
    }
    return failed;
  },
};

/** "registered" (with the server's answer) or "already registered"; throws HttpError when the server refuses it. */
async function registerModel(api: Api, model: ModelFolder): Promise<{ outcome: string; answer?: unknown }> {
  const existing = await api.send("GET", `/v1/models/${model.id}`).catch((e: unknown) => {
    if (e instanceof HttpError && e.status === 404) return null;
    throw e;
  });
  if (existing) return { outcome: "already registered" };
  const answer = await api.json("PUT", `/v1/models/${model.id}`, { body: await filesForm(model.dir, MODEL_FILES) });
  return { outcome: "registered", answer };
}

async function pushTask(api: Api, task: TaskFolder): Promise<Outcome> {
  if (task.problem)
    return { id: task.id, refused: `${task.problem} (not sent)`, splits: [], unchanged: false, answers: {} };
  const query = new URLSearchParams({
    ...(task.application && { application: task.application }),
    ...(task.language && { language: task.language }),
  });
  const splits: string[] = [];
  let unchanged = true;
  const answers: Record<string, unknown> = {};
  const step = async (what: string, request: () => Promise<Response>): Promise<string | undefined> => {
    try {
      // 200 { unchanged: true } is an upload the server already held; 201 a change.
      const answer = (await (await request()).json()) as { unchanged?: boolean };
      answers[what.replace(/\.jsonl$/, "")] = answer;
      if (answer.unchanged !== true) unchanged = false;
      return undefined;
    } catch (e) {
      if (refusal(e)) return `${what}: ${e.reason} (${e.status} ${e.code})`;
      throw e;
    }
  };
  const body = await filesForm(task.adapterDir, ADAPTER_FILES);
  const refused = await step("adapter", () => api.send("PUT", `/v1/tasks/${task.id}/adapter?${query}`, { body }));
  if (refused) return { id: task.id, refused, splits, unchanged: false, answers };
  for (const split of SPLITS) {
    const path = task.examples[split];
    if (!path) continue;
    const examples = await openAsBlob(path);
    const failed = await step(`${split}.jsonl`, () =>
      api.send("PUT", `/v1/tasks/${task.id}/examples?split=${split}`, { body: examples }),
    );
    if (failed) return { id: task.id, refused: failed, splits, unchanged: false, answers };
    splits.push(split);
  }
  return { id: task.id, splits, unchanged, answers };
}

/**
 * The server refused this upload, and only this one. A wrong token or an unreachable Worker
 * would refuse every upload alike: those stop the push with one line instead.
 */
function refusal(e: unknown): e is HttpError {
  return e instanceof HttpError && e.status !== 401 && e.status !== 403;
}

/** A multipart body with one field per file, named as the file (what the upload routes expect). */
async function filesForm(dir: string, files: readonly string[]): Promise<FormData> {
  const form = new FormData();
  for (const name of files) form.set(name, await openAsBlob(join(dir, name)), name);
  return form;
}

/** `work` over `items`, at most `limit` at a time, results in input order. */
async function inPool<T, R>(items: readonly T[], limit: number, work: (item: T) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await work(items[i]);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}
