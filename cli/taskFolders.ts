/**
 * What `push` finds under a directory. Two layouts:
 * - the r2-fixtures layout: models/<modelId>/, adapters/<task>/, examples/<task>/{fewshot,test}.jsonl,
 *   optional catalogue.json `{ tasks: [{ id, application, language }] }`;
 * - flat: <dir>/<task>/ with the PEFT files, optional fewshot.jsonl, test.jsonl and
 *   task.json `{ application?, language? }` (or <dir> itself is one such folder).
 * The task id is the folder's name.
 */
import { existsSync } from "node:fs";
import { readdir, readFile } from "node:fs/promises";
import { basename, join, resolve } from "node:path";
import { CliError } from "./errors.ts";

export const ADAPTER_FILES = ["adapter_config.json", "adapter_model.safetensors"] as const;
export const MODEL_FILES = ["model.onnx", "model.json", "tokenizer.json", "tokenizer_config.json"] as const;
export const SPLITS = ["fewshot", "test"] as const;
/** The server's id rule (src/api/validate.ts): ids become R2 key segments. */
const TASK_ID = /^[a-z0-9][a-z0-9._-]{0,63}$/;

export interface TaskFolder {
  readonly id: string;
  /** The folder holding adapter_config.json and adapter_model.safetensors. */
  readonly adapterDir: string;
  /** Path of each split's JSONL file that exists. */
  readonly examples: Partial<Record<(typeof SPLITS)[number], string>>;
  readonly application?: string;
  readonly language?: string;
  /** Why the task is refused without sending anything, when it is. */
  readonly problem?: string;
}

export interface ModelFolder {
  readonly id: string;
  readonly dir: string;
}

export interface PushPlan {
  readonly layout: "r2-fixtures" | "flat";
  readonly models: ModelFolder[];
  readonly tasks: TaskFolder[];
}

interface Metadata {
  application?: string;
  language?: string;
}

export async function planPush(dir: string): Promise<PushPlan> {
  if (!existsSync(dir)) throw new CliError(`${dir}: no such directory`);
  const plan = existsSync(join(dir, "adapters")) ? await fixturesLayout(dir) : await flatLayout(dir);
  if (plan.tasks.length === 0)
    throw new CliError(`${dir}: no adapter folders (adapters/<task>/ or <task>/ with ${ADAPTER_FILES.join(" and ")})`);
  return plan;
}

async function fixturesLayout(dir: string): Promise<PushPlan> {
  const metadata = new Map<string, Metadata>();
  if (existsSync(join(dir, "catalogue.json"))) {
    let entries: unknown;
    try {
      entries = (JSON.parse(await readFile(join(dir, "catalogue.json"), "utf8")) as { tasks?: unknown }).tasks;
    } catch (e) {
      throw new CliError(`${join(dir, "catalogue.json")}: ${e instanceof Error ? e.message : e}`);
    }
    if (!Array.isArray(entries)) throw new CliError(`${join(dir, "catalogue.json")}: expected { "tasks": [ ... ] }`);
    for (const entry of entries as Record<string, unknown>[]) {
      if (typeof entry?.id === "string") metadata.set(entry.id, metadataOf(entry) ?? {});
    }
  }
  const models = (await subfolders(join(dir, "models"))).map((id) => ({ id, dir: join(dir, "models", id) }));
  const tasks = (await subfolders(join(dir, "adapters"))).map((id) => {
    const examples = Object.fromEntries(
      SPLITS.map((s) => [s, join(dir, "examples", id, `${s}.jsonl`)]).filter(([, p]) => existsSync(p)),
    );
    return taskFolder(id, join(dir, "adapters", id), examples, metadata.get(id) ?? {});
  });
  return { layout: "r2-fixtures", models, tasks };
}

async function flatLayout(dir: string): Promise<PushPlan> {
  const isAdapterFolder = (path: string) => ADAPTER_FILES.some((f) => existsSync(join(path, f)));
  const folders = isAdapterFolder(dir)
    ? [resolve(dir)]
    : (await subfolders(dir)).map((name) => join(dir, name)).filter(isAdapterFolder);
  const tasks = await Promise.all(
    folders.map(async (folder) => {
      const id = basename(folder);
      const examples = Object.fromEntries(
        SPLITS.map((s) => [s, join(folder, `${s}.jsonl`)]).filter(([, p]) => existsSync(p)),
      );
      if (!existsSync(join(folder, "task.json"))) return taskFolder(id, folder, examples, {});
      let metadata: Metadata | string;
      try {
        metadata =
          metadataOf(JSON.parse(await readFile(join(folder, "task.json"), "utf8"))) ??
          "task.json: application and language must be strings";
      } catch (e) {
        metadata = `task.json: ${e instanceof Error ? e.message : e}`;
      }
      return typeof metadata === "string"
        ? { id, adapterDir: folder, examples, problem: metadata }
        : taskFolder(id, folder, examples, metadata);
    }),
  );
  return { layout: "flat", models: [], tasks };
}

function taskFolder(id: string, adapterDir: string, examples: TaskFolder["examples"], metadata: Metadata): TaskFolder {
  const missing = ADAPTER_FILES.filter((f) => !existsSync(join(adapterDir, f)));
  const problem = !TASK_ID.test(id)
    ? `folder name is not a valid task id (${TASK_ID})`
    : missing.length > 0
      ? `missing ${missing.join(" and ")}`
      : undefined;
  return { id, adapterDir, examples, ...metadata, ...(problem ? { problem } : {}) };
}

/** `{ application?, language? }` from a task.json or catalogue entry; null when either is not a string. */
function metadataOf(json: unknown): Metadata | null {
  const { application, language } = (json ?? {}) as Record<string, unknown>;
  if (
    (application !== undefined && typeof application !== "string") ||
    (language !== undefined && typeof language !== "string")
  )
    return null;
  return { ...(application ? { application } : {}), ...(language ? { language } : {}) };
}

async function subfolders(dir: string): Promise<string[]> {
  if (!existsSync(dir)) return [];
  return (await readdir(dir, { withFileTypes: true }))
    .filter((e) => e.isDirectory() && !e.name.startsWith("."))
    .map((e) => e.name)
    .sort();
}
