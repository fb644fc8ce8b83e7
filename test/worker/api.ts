/** Requests to the Worker under test, as a client would send them. */
import { env, exports } from "cloudflare:workers";
import { expect } from "vitest";
import { readEdge } from "../../src/delivery/edgeReads";
import { tasksKey, type TasksModel } from "../../src/delivery/readModel";
import type { RunStatus } from "../../src/runs/status";
import { fixtureBytes } from "./seed";

export const ADMIN = { authorization: "Bearer test-admin-token" };
export const MODEL = "d2c-char-lm";

/** A request with the admin token unless `init.headers` says otherwise. */
export function call(path: string, init: RequestInit = {}): Promise<Response> {
  return exports.default.fetch(new Request(`http://d2c.test${path}`, { ...init, headers: init.headers ?? ADMIN }));
}

export function form(files: Record<string, Uint8Array>): FormData {
  const body = new FormData();
  for (const [name, bytes] of Object.entries(files)) body.set(name, new Blob([bytes]), name);
  return body;
}

export async function registerModel(): Promise<Response> {
  const files: Record<string, Uint8Array> = {};
  for (const f of ["model.onnx", "model.json", "tokenizer.json", "tokenizer_config.json"])
    files[f] = await fixtureBytes(`models/${MODEL}/${f}`);
  return call(`/v1/models/${MODEL}`, { method: "PUT", headers: ADMIN, body: form(files) });
}

export async function uploadAdapter(taskId: string, files?: Record<string, Uint8Array>, query = ""): Promise<Response> {
  files ??= {
    "adapter_config.json": await fixtureBytes(`adapters/${taskId}/adapter_config.json`),
    "adapter_model.safetensors": await fixtureBytes(`adapters/${taskId}/adapter_model.safetensors`),
  };
  return call(`/v1/tasks/${taskId}/adapter${query}`, { method: "PUT", headers: ADMIN, body: form(files) });
}

export async function uploadExamples(taskId: string, split: "fewshot" | "test", body?: Uint8Array): Promise<Response> {
  body ??= await fixtureBytes(`examples/${taskId}/${split}.jsonl`);
  return call(`/v1/tasks/${taskId}/examples?split=${split}`, { method: "PUT", headers: ADMIN, body });
}

/** Registers the base model and uploads each task's adapter and both example splits, each answered 201. */
export async function seedTasks(tasks: readonly string[]): Promise<void> {
  const created = async (response: Promise<Response>, what: string) => {
    const answer = await response;
    if (answer.status !== 201) throw new Error(`${what}: ${answer.status} ${await answer.text()}`);
  };
  await created(registerModel(), "base model");
  for (const task of tasks) {
    await created(uploadAdapter(task), `${task} adapter`);
    await created(uploadExamples(task, "fewshot"), `${task} few-shot examples`);
    await created(uploadExamples(task, "test"), `${task} test examples`);
  }
}

export const statusOf = async (runId: string) => (await (await call(`/v1/runs/${runId}`)).json()) as RunStatus;

export const finished = (s: RunStatus) => s.state !== "running";

/** Polls a run until `done(status)` (default: it stopped running), at most `seconds`. */
export async function waitFor(
  runId: string,
  done: (s: RunStatus) => boolean = finished,
  seconds = 90,
): Promise<RunStatus> {
  const deadline = Date.now() + seconds * 1000;
  for (;;) {
    const status = await statusOf(runId);
    if (done(status)) return status;
    if (Date.now() > deadline)
      throw new Error(
        `run ${runId} did not get there in ${seconds} s: ${status.state}/${status.phase} iteration ${status.iteration}`,
      );
    await scheduler.wait(50);
  }
}

/** Polls `read` until `done` holds, at most `ms` (the Queue, the runs and the cron are asynchronous). */
export async function until<T>(read: () => Promise<T>, done: (value: T) => boolean, ms = 90_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await read();
    if (done(value)) return value;
    if (Date.now() > deadline) throw new Error(`not there in ${ms} ms: ${JSON.stringify(value).slice(0, 800)}`);
    await scheduler.wait(100);
  }
}

/**
 * Registers the reference model and uploads each task's fixture adapter, tagged with the
 * application and language its id names (`gec-de`), and its few-shot examples; returns once the
 * Catalogue has published the task list that device needs map to (a second after the last change).
 */
export async function seedTaggedTasks(tasks: readonly string[]): Promise<void> {
  expect((await registerModel()).status).toBe(201);
  for (const task of tasks) {
    const [application, language] = task.split("-");
    expect((await uploadAdapter(task, undefined, `?application=${application}&language=${language}`)).status).toBe(201);
    expect((await uploadExamples(task, "fewshot")).status).toBe(201);
  }
  await until(
    () => readEdge<TasksModel>(env, tasksKey(MODEL)),
    (m) => m?.tasks.length === tasks.length,
    10_000,
  );
}

/**
 * Clusters `tasks` (already uploaded) with K-means into `k`, creates `profile` for the reference
 * model (its budget `k` adapters, plus `settings`) and publishes the run as its release 1; returns the run id.
 */
export async function publishKmeans(
  profile: string,
  tasks: readonly string[],
  k: number,
  settings: Record<string, unknown> = {},
): Promise<string> {
  const post = (body: unknown) => ({ method: "POST", body: JSON.stringify(body) });
  const { runId } = (await (await call("/v1/runs", post({ tasks, k, method: "kmeans", seed: 0 }))).json()) as {
    runId: string;
  };
  expect((await waitFor(runId)).state).toBe("done");
  expect(
    (
      await call(`/v1/profiles/${profile}`, {
        method: "PUT",
        body: JSON.stringify({ modelId: MODEL, budget: { maxAdapters: k }, ...settings }),
      })
    ).status,
  ).toBe(200);
  expect((await call(`/v1/profiles/${profile}/releases`, post({ runId }))).status).toBe(201);
  return runId;
}
