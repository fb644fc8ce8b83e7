/** Requests to the Worker under test, as a client would send them. */
import { exports } from "cloudflare:workers";
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
  for (const f of ["model.onnx", "model.json", "tokenizer.json", "tokenizer_config.json"]) files[f] = await fixtureBytes(`models/${MODEL}/${f}`);
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

export const statusOf = async (runId: string) => (await (await call(`/v1/runs/${runId}`)).json()) as RunStatus;

export const finished = (s: RunStatus) => s.state !== "running";

/** Polls a run until `done(status)` (default: it stopped running), at most `seconds`. */
export async function waitFor(runId: string, done: (s: RunStatus) => boolean = finished, seconds = 90): Promise<RunStatus> {
  const deadline = Date.now() + seconds * 1000;
  for (;;) {
    const status = await statusOf(runId);
    if (done(status)) return status;
    if (Date.now() > deadline) throw new Error(`run ${runId} did not get there in ${seconds} s: ${status.state}/${status.phase} iteration ${status.iteration}`);
    await scheduler.wait(50);
  }
}
