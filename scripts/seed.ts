/**
 * Seeds a running Worker with the reference world in r2-fixtures/, through the same upload API
 * a user calls (one validated path into the catalogue). Idempotent: what is there is skipped.
 *
 *   node scripts/seed.ts [--url http://127.0.0.1:8787] [--token <ADMIN_TOKEN>] [--dir r2-fixtures]
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { parseArgs } from "node:util";

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

export async function seed(url: string, token: string, dir: string): Promise<{ uploaded: number; skipped: number }> {
  const auth = { authorization: `Bearer ${token}` };
  const file = async (key: string) => new Blob([await readFile(join(dir, key))]);
  const send = async (path: string, init: RequestInit) => {
    const response = await fetch(url + path, { ...init, headers: { ...auth, ...init.headers } });
    if (!response.ok) throw new Error(`${init.method} ${path}: ${response.status} ${await response.text()}`);
    return response;
  };
  const entries = (JSON.parse(await readFile(join(dir, "catalogue.json"), "utf8")) as { tasks: CatalogueEntry[] })
    .tasks;
  const present = new Map(
    ((await (await send("/v1/tasks", { method: "GET" })).json()) as { tasks: Task[] }).tasks.map((t) => [t.id, t]),
  );
  for (const modelId of new Set(entries.map((e) => e.modelId))) {
    if ((await fetch(`${url}/v1/models/${modelId}`, { headers: auth })).ok) continue;
    const body = new FormData();
    for (const f of ["model.onnx", "model.json", "tokenizer.json", "tokenizer_config.json"])
      body.set(f, await file(`models/${modelId}/${f}`), f);
    await send(`/v1/models/${modelId}`, { method: "PUT", body });
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
      await send(`/v1/tasks/${entry.id}/adapter?${query}`, { method: "PUT", body });
    }
    for (const split of ["fewshot", "test"] as const) {
      await send(`/v1/tasks/${entry.id}/examples?split=${split}`, {
        method: "PUT",
        body: await file(`examples/${entry.id}/${split}.jsonl`),
      });
    }
    uploaded++;
  }
  return { uploaded, skipped: entries.length - uploaded };
}

if (import.meta.main) {
  const { values } = parseArgs({
    options: {
      url: { type: "string", default: "http://127.0.0.1:8787" },
      token: { type: "string" },
      dir: { type: "string", default: "r2-fixtures" },
    },
  });
  const token = values.token ?? process.env.ADMIN_TOKEN;
  if (!token) throw new Error("give --token or ADMIN_TOKEN");
  const { uploaded, skipped } = await seed(values.url!, token, values.dir!);
  console.log(`seeded ${uploaded} tasks, ${skipped} already there`);
}
