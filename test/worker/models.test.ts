/**
 * Registering real models: a plain export gets its LoRA inputs from the surgery and its
 * model.json derived; adapters find it by the hub name they cite (aliases); pushed files go up
 * in parts and are verified; a model too large for a Worker is refused for the in-Worker path.
 * Each refusal leaves the catalogue and R2 as they were.
 */
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { estimatedWorkerMemory, WORKER_MEMORY_LIMIT } from "../../src/models/workerMemory";
import { ADMIN, call, form, registerModel, uploadAdapter, uploadExamples, waitFor } from "./api";
import { onnxVariant, padding } from "./modelFiles";
import { fixtureBytes } from "./seed";

type ErrorBody = { error: { code: string; message: string } };
const DIR = "models/d2c-char-lm";
const encode = (s: string) => new TextEncoder().encode(s);

async function tokenizerFiles() {
  return {
    "tokenizer.json": await fixtureBytes(`${DIR}/tokenizer.json`),
    "tokenizer_config.json": await fixtureBytes(`${DIR}/tokenizer_config.json`),
  };
}

const register = async (id: string, files: Record<string, Uint8Array>, query = "") =>
  call(`/v1/models/${id}${query}`, { method: "PUT", headers: ADMIN, body: form(files) });

async function snapshot() {
  const listed = await env.BUCKET.list({ limit: 1000 });
  const models = await (await call("/v1/models")).json();
  const tasks = (await (await call("/v1/tasks")).json()) as { catalogueVersion: number };
  return { r2: listed.objects.map((o) => `${o.key} ${o.etag}`).sort(), models, version: tasks.catalogueVersion };
}

async function refused(response: Response, status: number, code: string): Promise<string> {
  const body = (await response.json()) as ErrorBody;
  expect({ status: response.status, code: body.error.code }).toEqual({ status, code });
  return body.error.message;
}

const evaluateLoss = async (task: string, adapter: string) =>
  (
    (await (
      await call("/v1/evaluate", { method: "POST", body: JSON.stringify({ task, adapter, split: "fewshot" }) })
    ).json()) as { loss: number }
  ).loss;

beforeAll(async () => {
  expect((await registerModel()).status).toBe(201);
  expect((await uploadAdapter("gec-de")).status).toBe(201);
  expect((await uploadExamples("gec-de", "fewshot")).status).toBe(201);
});

describe("a plain export", () => {
  it("registers with LoRA inputs added and model.json derived, and evaluates as the contract export does", async () => {
    const response = await register(
      "char-lm-plain",
      { "model.onnx": await fixtureBytes(`${DIR}/plain/model.onnx`), ...(await tokenizerFiles()) },
      "?aliases=d2c/char-lm-1M",
    );
    expect(response.status).toBe(201);
    expect(await response.json()).toMatchObject({
      modelId: "char-lm-plain",
      loraTargets: 16,
      aliases: ["d2c/char-lm-1M"],
      evaluator: "wasm",
    });
    const derived = (await (await call("/v1/models/char-lm-plain")).json()) as Record<string, unknown>;
    const reference = JSON.parse(new TextDecoder().decode(await fixtureBytes(`${DIR}/model.json`))) as Record<
      string,
      unknown
    >;
    for (const field of ["maxSequence", "vocabSize", "tokens", "loraTargets"])
      expect(derived[field]).toEqual(reference[field]);

    // gec-de's adapter, citing the alias: it lands on the plain model, and scores as on d2c-char-lm.
    const config = JSON.parse(new TextDecoder().decode(await fixtureBytes("adapters/gec-de/adapter_config.json")));
    const adapter = await uploadAdapter("gec-de-plain", {
      "adapter_config.json": encode(JSON.stringify({ ...config, base_model_name_or_path: "d2c/char-lm-1M" })),
      "adapter_model.safetensors": await fixtureBytes("adapters/gec-de/adapter_model.safetensors"),
    });
    expect(adapter.status).toBe(201);
    expect((await (await call("/v1/tasks/gec-de-plain")).json()) as object).toMatchObject({ modelId: "char-lm-plain" });
    expect(
      (await uploadExamples("gec-de-plain", "fewshot", await fixtureBytes("examples/gec-de/fewshot.jsonl"))).status,
    ).toBe(201);
    const [plain, contract] = [
      await evaluateLoss("gec-de-plain", "gec-de-plain"),
      await evaluateLoss("gec-de", "gec-de"),
    ];
    expect(Math.abs(plain - contract)).toBeLessThan(1e-4);
    expect(
      Math.abs((await evaluateLoss("gec-de-plain", "none")) - (await evaluateLoss("gec-de", "none"))),
    ).toBeLessThan(1e-4);
  });

  it("a default run over a catalogue of two models needs modelId", async () => {
    const post = (body: object) => call("/v1/runs", { method: "POST", body: JSON.stringify(body) });
    expect(await refused(await post({ k: 1 }), 422, "model_mismatch")).toContain("give modelId");
    const started = await post({ method: "merge-all", modelId: "char-lm-plain" });
    expect(started.status).toBe(202);
    const { runId, ...run } = (await started.json()) as { runId: string; k: number; tasks: number };
    expect(run).toEqual({ k: 1, tasks: 1 });
    expect((await waitFor(runId)).state).toBe("done"); // before the next test's snapshots
  });

  it("refuses an alias another model answers to, and targets the graph lacks, changing nothing", async () => {
    const files = { "model.onnx": await fixtureBytes(`${DIR}/plain/model.onnx`), ...(await tokenizerFiles()) };
    const before = await snapshot();
    expect(
      await refused(await register("char-lm-copy", files, "?aliases=d2c/char-lm-1M"), 409, "alias_taken"),
    ).toContain("alias d2c/char-lm-1M already names model char-lm-plain");
    expect(await refused(await register("char-lm-copy", files, "?aliases=d2c-char-lm"), 409, "alias_taken")).toContain(
      "already names model d2c-char-lm",
    );
    const missing = await register("char-lm-copy", files, "?targets=q_proj,x_proj");
    expect(missing.status).toBe(400);
    expect(((await missing.json()) as ErrorBody).error.message).toContain("x_proj");
    expect(await snapshot()).toEqual(before);
  });
});

describe("pushed files", () => {
  /** Bytes whose estimated Worker memory is just above the limit (the estimator is monotone in bytes). */
  function tooLargeForWorker(): number {
    let bytes = 1 << 20;
    while (estimatedWorkerMemory(bytes, false) <= WORKER_MEMORY_LIMIT) bytes *= 2;
    return bytes;
  }

  async function push(modelId: string, file: string, bytes: Uint8Array, partBytes = 8 << 20) {
    const sha256 = [...new Uint8Array(await crypto.subtle.digest("SHA-256", bytes))]
      .map((b) => b.toString(16).padStart(2, "0"))
      .join("");
    const started = (await (
      await call(`/v1/models/${modelId}/uploads`, { method: "POST", body: JSON.stringify({ file, sha256 }) })
    ).json()) as { uploadId: string };
    const parts = [];
    for (let offset = 0, n = 1; offset < bytes.byteLength; offset += partBytes, n++) {
      const part = bytes.subarray(offset, offset + partBytes);
      const response = await call(
        `/v1/models/${modelId}/uploads/${started.uploadId}/parts/${n}?file=${file}&sha256=${sha256}`,
        {
          method: "PUT",
          headers: { ...ADMIN, "content-length": String(part.byteLength) },
          body: part,
        },
      );
      expect(response.status).toBe(200);
      parts.push(await response.json());
    }
    const done = await call(`/v1/models/${modelId}/uploads/${started.uploadId}/complete`, {
      method: "POST",
      body: JSON.stringify({ file, sha256, parts }),
    });
    return { sha256, done };
  }

  it("takes a model in parts, and refuses it for the Worker when it would not fit an isolate", async () => {
    // The contract export with an unused initializer: a real graph (the checks read every pushed one) of that size.
    const big = await onnxVariant(`${DIR}/model.onnx`, padding(tooLargeForWorker()));
    const { sha256, done } = await push("big-lm", "model.onnx", big, 64 << 20);
    expect(done.status).toBe(200);
    const reference = JSON.parse(new TextDecoder().decode(await fixtureBytes(`${DIR}/model.json`)));
    const modelJson = { ...reference, modelId: "big-lm", onnx: { file: `${sha256}/model.onnx`, sha256 } };
    const files = { "model.json": encode(JSON.stringify(modelJson)), ...(await tokenizerFiles()) };
    const before = await snapshot();
    const message = await refused(await register("big-lm", files), 422, "too_large_for_worker");
    expect(message).toContain("evaluator=remote");
    expect(await snapshot()).toEqual(before);
    // For the evaluator service it registers (the Worker never loads it).
    const remote = await register("big-lm", files, "?evaluator=remote");
    expect(remote.status).toBe(201);
    expect(((await (await call("/v1/models/big-lm")).json()) as { evaluator: string }).evaluator).toBe("remote");
  });

  it(
    "refuses a part stream whose bytes do not match the digest, " + "and a model.json naming a file never pushed",
    async () => {
      const bytes = encode("not the promised bytes");
      const sha256 = "0".repeat(64);
      const started = (await (
        await call("/v1/models/bad-lm/uploads", {
          method: "POST",
          body: JSON.stringify({ file: "model.onnx", sha256 }),
        })
      ).json()) as { uploadId: string };
      const part = await call(
        `/v1/models/bad-lm/uploads/${started.uploadId}/parts/1?file=model.onnx&sha256=${sha256}`,
        {
          method: "PUT",
          headers: { ...ADMIN, "content-length": String(bytes.byteLength) },
          body: bytes,
        },
      );
      const complete = await call(`/v1/models/bad-lm/uploads/${started.uploadId}/complete`, {
        method: "POST",
        body: JSON.stringify({ file: "model.onnx", sha256, parts: [await part.json()] }),
      });
      expect(await refused(complete, 400, "sha256_mismatch")).toContain(`not ${sha256}`);
      expect(await env.BUCKET.head(`models/bad-lm/${sha256}/model.onnx`)).toBeNull();
      const reference = JSON.parse(new TextDecoder().decode(await fixtureBytes(`${DIR}/model.json`)));
      const files = {
        "model.json": encode(
          JSON.stringify({ ...reference, modelId: "bad-lm", onnx: { file: `${sha256}/model.onnx`, sha256 } }),
        ),
        ...(await tokenizerFiles()),
      };
      expect(await refused(await register("bad-lm", files, "?evaluator=remote"), 409, "not_pushed")).toContain(
        "push it first",
      );
    },
  );
});
