/**
 * `d2c-edge push <dir>`: every PEFT adapter folder under <dir> and its examples, through the
 * same upload routes as scripts/seed.ts (the server validates; the CLI reports its reasons).
 */
import { openAsBlob } from "node:fs";
import { join } from "node:path";
import { HttpError, type Api } from "./api.ts";
import { integer, type Command } from "./command.ts";
import { ProgressBar } from "./progressBar.ts";
import { ADAPTER_FILES, MODEL_FILES, SPLITS, planPush, type ModelFolder, type TaskFolder } from "./taskFolders.ts";

interface Outcome {
  readonly id: string;
  /** Why the task (or one of its files) was refused; absent when everything went up. */
  readonly refused?: string;
  readonly splits: string[];
  /** The server already held the adapter and every split exactly as pushed: nothing changed (200 unchanged). */
  readonly unchanged: boolean;
}

export const push: Command = {
  name: "push",
  usage: "<dir> [--concurrency N]",
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
  --concurrency N  tasks uploaded at once (default 4)`,
  options: { concurrency: { type: "string" } },
  positionals: ["dir"],
  async run({ values, positionals, api }) {
    const concurrency = integer(values, "concurrency", 1) ?? 4;
    const plan = await planPush(positionals[0]);
    const bar = new ProgressBar(plan.tasks.length, "tasks");
    const refusedModels: string[] = [];
    for (const model of plan.models) {
      try {
        bar.note(`model ${model.id}: ${await registerModel(api, model)}`);
      } catch (e) {
        if (!refusal(e)) throw e;
        refusedModels.push(`model ${model.id}: ${e.message}`);
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
    return refused.length + refusedModels.length ? 1 : 0;
  },
};

/** "registered" or "already registered"; throws HttpError when the server refuses it. */
async function registerModel(api: Api, model: ModelFolder): Promise<string> {
  const existing = await api.send("GET", `/v1/models/${model.id}`).catch((e: unknown) => {
    if (e instanceof HttpError && e.status === 404) return null;
    throw e;
  });
  if (existing) return "already registered";
  await api.send("PUT", `/v1/models/${model.id}`, { body: await filesForm(model.dir, MODEL_FILES) });
  return "registered";
}

async function pushTask(api: Api, task: TaskFolder): Promise<Outcome> {
  if (task.problem) return { id: task.id, refused: `${task.problem} (not sent)`, splits: [], unchanged: false };
  const query = new URLSearchParams({
    ...(task.application && { application: task.application }),
    ...(task.language && { language: task.language }),
  });
  const splits: string[] = [];
  let unchanged = true;
  const step = async (what: string, request: () => Promise<Response>): Promise<string | undefined> => {
    try {
      // 200 { unchanged: true } is an upload the server already held; 201 a change.
      const answer = (await (await request()).json()) as { unchanged?: boolean };
      if (answer.unchanged !== true) unchanged = false;
      return undefined;
    } catch (e) {
      if (refusal(e)) return `${what}: ${e.reason} (${e.status} ${e.code})`;
      throw e;
    }
  };
  const body = await filesForm(task.adapterDir, ADAPTER_FILES);
  const refused = await step("adapter", () => api.send("PUT", `/v1/tasks/${task.id}/adapter?${query}`, { body }));
  if (refused) return { id: task.id, refused, splits, unchanged: false };
  for (const split of SPLITS) {
    const path = task.examples[split];
    if (!path) continue;
    const examples = await openAsBlob(path);
    const failed = await step(`${split}.jsonl`, () =>
      api.send("PUT", `/v1/tasks/${task.id}/examples?split=${split}`, { body: examples }),
    );
    if (failed) return { id: task.id, refused: failed, splits, unchanged: false };
    splits.push(split);
  }
  return { id: task.id, splits, unchanged };
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
