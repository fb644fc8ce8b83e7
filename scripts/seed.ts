/**
 * Seeds a running Worker with the reference world in r2-fixtures/, through the same upload API
 * a user calls (one validated path into the catalogue). Idempotent: what is there is skipped.
 * The Worker and the token are found as the CLI finds them (cli/api.ts `connect`).
 *
 *   npm run seed [-- --url http://127.0.0.1:8787] [--dir r2-fixtures]
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { connect, HttpError, type Api } from "../cli/api.ts";
import { text } from "../cli/command.ts";
import { CliError, CONNECTION_OPTIONS, CONNECTION_USAGE, runScript, type Script } from "./commandLine.ts";

export const SEED: Script = {
  name: "npm run seed",
  usage: `[-- --url URL] [--dir DIR]

Uploads the reference world (or a scale world from \`npm run world\`) to a running Worker: its model,
then each task's adapter and examples. Tasks already there with both example splits are skipped,
so a second seed uploads nothing.

Options:
  --dir DIR        the world, in the r2-fixtures layout (default r2-fixtures)
${CONNECTION_USAGE}`,
  options: { ...CONNECTION_OPTIONS, dir: { type: "string" } },
};

interface CatalogueEntry {
  id: string;
  modelId: string;
  application?: string;
  language?: string;
}
interface Task {
  id: string;
  examples: { fewshot: number; test: number };
  examplesSha256?: { fewshot: string; test: string };
}

/** Seeds the Worker at `url` (default $D2C_URL, else 8787) with `token` (default $D2C_TOKEN, else .dev.vars). */
export async function seed(
  url: string | undefined,
  token: string | undefined,
  dir: string,
): Promise<{ uploaded: number; skipped: number }> {
  return seedWith(connect(url, token), dir);
}

async function seedWith(api: Api, dir: string): Promise<{ uploaded: number; skipped: number }> {
  const file = async (key: string) => new Blob([await worldFile(join(dir, key))]);
  const catalogue = JSON.parse((await worldFile(join(dir, "catalogue.json"))).toString("utf8"));
  const entries = (catalogue as { tasks: CatalogueEntry[] }).tasks;
  const present = new Map((await api.json<{ tasks: Task[] }>("GET", "/v1/tasks")).tasks.map((t) => [t.id, t]));
  for (const modelId of new Set(entries.map((e) => e.modelId))) {
    if (await registered(api, modelId)) continue;
    const body = new FormData();
    for (const f of ["model.onnx", "model.json", "tokenizer.json", "tokenizer_config.json"])
      body.set(f, await file(`models/${modelId}/${f}`), f);
    await api.send("PUT", `/v1/models/${modelId}`, { body });
  }
  let uploaded = 0;
  for (const entry of entries) {
    const task = present.get(entry.id);
    // Examples stored before the catalogue kept their digests are uploaded again.
    if (
      task &&
      task.examples.fewshot > 0 &&
      task.examples.test > 0 &&
      task.examplesSha256?.fewshot &&
      task.examplesSha256.test
    )
      continue;
    if (!task) {
      const body = new FormData();
      for (const f of ["adapter_config.json", "adapter_model.safetensors"])
        body.set(f, await file(`adapters/${entry.id}/${f}`), f);
      const query = new URLSearchParams({
        ...(entry.application && { application: entry.application }),
        ...(entry.language && { language: entry.language }),
      });
      await api.send("PUT", `/v1/tasks/${entry.id}/adapter?${query}`, { body });
    }
    for (const split of ["fewshot", "test"] as const) {
      const body = await file(`examples/${entry.id}/${split}.jsonl`);
      await api.send("PUT", `/v1/tasks/${entry.id}/examples?split=${split}`, { body });
    }
    uploaded++;
  }
  return { uploaded, skipped: entries.length - uploaded };
}

/** A model the Worker has already; a refusal other than 404 is the seed's error. */
async function registered(api: Api, modelId: string): Promise<boolean> {
  try {
    await api.send("GET", `/v1/models/${modelId}`);
    return true;
  } catch (e) {
    if (e instanceof HttpError && e.status === 404) return false;
    throw e;
  }
}

/** A file of the world, or the seed's one-line error when it is not there. */
async function worldFile(path: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (e) {
    throw new CliError(`cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? String(e)} (is --dir a world?)`);
  }
}

if (import.meta.main) {
  await runScript(SEED, async ({ values }) => {
    const api = connect(text(values, "url"), text(values, "token"));
    const { uploaded, skipped } = await seedWith(api, text(values, "dir") ?? "r2-fixtures");
    console.log(`seeded ${api.url}: ${uploaded} tasks uploaded, ${skipped} already there`);
    return 0;
  });
}
