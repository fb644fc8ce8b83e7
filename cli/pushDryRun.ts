/**
 * `push --dry-run`: what a push of the folders would change, by digest, from GETs only: each task
 * new, changed (which files, which labels) or identical to the catalogue's record.
 */
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { join } from "node:path";
import type { TaskRecord } from "../src/catalogue/task.ts";
import { HttpError, type Api } from "./api.ts";
import { printJson } from "./command.ts";
import type { PushPlan, TaskFolder } from "./taskFolders.ts";

export interface TaskChange {
  readonly id: string;
  readonly change: "new" | "changed" | "unchanged" | "refused";
  /** What differs from the catalogue: adapter, fewshot, test, application, language. */
  readonly fields?: string[];
  /** Why push would refuse it without a request. */
  readonly problem?: string;
}

async function sha256Of(path: string): Promise<string> {
  const hash = createHash("sha256");
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest("hex");
}

/** Compares one folder with the catalogue's record (absent: a new task). */
export async function taskChange(task: TaskFolder, record: TaskRecord | undefined): Promise<TaskChange> {
  if (task.problem) return { id: task.id, change: "refused", problem: task.problem };
  if (!record) return { id: task.id, change: "new" };
  const fields: string[] = [];
  if ((await sha256Of(join(task.adapterDir, "adapter_model.safetensors"))) !== record.adapterSha256)
    fields.push("adapter");
  for (const split of ["fewshot", "test"] as const) {
    const path = task.examples[split];
    if (path && (await sha256Of(path)) !== record.examplesSha256[split]) fields.push(split);
  }
  // The server keeps a label the upload leaves out, so only a label given here can change.
  if (task.application !== undefined && task.application !== record.application) fields.push("application");
  if (task.language !== undefined && task.language !== record.language) fields.push("language");
  return { id: task.id, change: fields.length ? "changed" : "unchanged", ...(fields.length ? { fields } : {}) };
}

export async function dryPush(api: Api, plan: PushPlan, dir: string, json: boolean): Promise<number> {
  const models = [];
  for (const model of plan.models) {
    const registered = await api.send("GET", `/v1/models/${model.id}`).then(
      () => true,
      (e: unknown) => {
        if (e instanceof HttpError && e.status === 404) return false;
        throw e;
      },
    );
    models.push({ id: model.id, registered });
  }
  const { tasks } = await api.json<{ tasks: TaskRecord[] }>("GET", "/v1/tasks");
  const byId = new Map(tasks.map((t) => [t.id, t]));
  const changes: TaskChange[] = [];
  for (const task of plan.tasks) changes.push(await taskChange(task, byId.get(task.id)));
  if (json) {
    printJson({ dryRun: true, url: api.url, layout: plan.layout, models, tasks: changes });
    return 0;
  }
  console.log(`dry run: ${plan.layout} layout from ${dir}, compared with ${api.url}; nothing was sent`);
  for (const m of models) console.log(`model ${m.id}: ${m.registered ? "already registered" : "would be registered"}`);
  const of = (kind: TaskChange["change"]) => changes.filter((c) => c.change === kind);
  const ids = (list: TaskChange[]) => list.map((c) => c.id).join(" ");
  if (of("new").length) console.log(`new: ${of("new").length} tasks: ${ids(of("new"))}`);
  if (of("changed").length) {
    console.log(`changed: ${of("changed").length} tasks:`);
    for (const c of of("changed")) console.log(`  ${c.id}: ${c.fields!.join(", ")}`);
  }
  console.log(`unchanged: ${of("unchanged").length} tasks (every file's sha256 as the catalogue has it)`);
  if (of("refused").length) {
    console.log(`would refuse ${of("refused").length} without a request:`);
    for (const c of of("refused")) console.log(`  ${c.id}: ${c.problem}`);
  }
  return 0;
}
