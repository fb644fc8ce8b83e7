/** The catalogue API against the real local R2 and Catalogue Durable Object. */
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { readSafetensors, writeSafetensors } from "../../src/adapters/safetensors";
import { adapterKey, examplesKey } from "../../src/storage/keys";
import { ADMIN, call, registerModel, uploadAdapter, uploadExamples } from "./api";
import { fixtureBytes } from "./seed";

type ErrorBody = { error: { code: string; message: string } };
const tasksNow = async () => (await (await call("/v1/tasks")).json()) as { tasks: Array<{ id: string }>; catalogueVersion: number };

/** The gec-de adapter with one tensor replaced. */
async function tamperedAdapter(key: string, replace: (values: Float32Array) => { shape: number[]; values: Float32Array }) {
  const original = readSafetensors(await fixtureBytes("adapters/gec-de/adapter_model.safetensors"));
  const tensors: Parameters<typeof writeSafetensors>[0] = {};
  for (const [name, t] of original.tensors) tensors[name] = t;
  const { shape, values } = replace(new Float32Array(64));
  tensors[key] = { dtype: "F32", shape, bytes: new Uint8Array(values.buffer) };
  return {
    "adapter_config.json": await fixtureBytes("adapters/gec-de/adapter_config.json"),
    "adapter_model.safetensors": writeSafetensors(tensors),
  };
}

beforeAll(async () => {
  expect((await registerModel()).status).toBe(201);
});

describe("uploads", () => {
  it("registers an adapter and its examples, and bumps the catalogue version on each change", async () => {
    const before = await tasksNow();
    const adapter = await uploadAdapter("gec-de", undefined, "?application=gec&language=de");
    expect(adapter.status).toBe(201);
    expect((await uploadExamples("gec-de", "fewshot")).status).toBe(201);
    const after = await tasksNow();
    expect(after.catalogueVersion).toBe(before.catalogueVersion + 2);
    const task = await (await call("/v1/tasks/gec-de")).json();
    expect(task).toMatchObject({ id: "gec-de", modelId: "d2c-char-lm", application: "gec", language: "de", rank: 8, examples: { fewshot: 10, test: 0 } });
    expect(await env.BUCKET.head(adapterKey("gec-de", "adapter_model.safetensors"))).not.toBeNull();
  });

  it("refuses admin routes without the token", async () => {
    const response = await call("/v1/tasks/x/examples?split=fewshot", { method: "PUT", body: "{}" });
    expect(response.status).toBe(401);
    expect(((await response.json()) as ErrorBody).error.code).toBe("unauthorized");
    const wrong = await call("/v1/tasks/x", { method: "DELETE", headers: { authorization: "Bearer nope" } });
    expect(wrong.status).toBe(401);
  });
});

describe("bad input leaves R2 and the catalogue as they were", () => {
  const refused = async (response: Response, status: number, mention: string) => {
    expect(response.status).toBe(status);
    const body = (await response.json()) as ErrorBody;
    expect(body.error.message).toContain(mention);
    return body;
  };

  it("names the tensor whose shape does not fit the model", async () => {
    const before = await tasksNow();
    const key = "base_model.model.model.layers.1.self_attn.v_proj.lora_A.weight";
    const files = await tamperedAdapter(key, () => ({ shape: [8, 64], values: new Float32Array(8 * 64) }));
    await refused(await uploadAdapter("bad-shape", files), 422, `${key}: shape [8,64], expected [8,128]`);
    expect(await env.BUCKET.head(adapterKey("bad-shape", "adapter_model.safetensors"))).toBeNull();
    expect(await tasksNow()).toEqual(before);
  });

  it("refuses NaN weights, unknown modules and unknown base models", async () => {
    const key = "base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight";
    const nan = await tamperedAdapter(key, () => ({ shape: [128, 8], values: new Float32Array(1024).fill(Number.NaN) }));
    await refused(await uploadAdapter("bad-nan", nan), 422, `${key}: value NaN`);
    const alien = await tamperedAdapter("base_model.model.model.layers.0.mlp.up_proj.lora_A.weight", () => ({ shape: [8, 128], values: new Float32Array(1024) }));
    await refused(await uploadAdapter("bad-module", alien), 422, "mlp.up_proj is not a LoRA target");
    const config = new TextEncoder().encode(JSON.stringify({ peft_type: "LORA", r: 8, lora_alpha: 16, base_model_name_or_path: "llama-70b" }));
    const files = { "adapter_config.json": config, "adapter_model.safetensors": await fixtureBytes("adapters/gec-de/adapter_model.safetensors") };
    await refused(await uploadAdapter("bad-model", files), 422, "llama-70b");
    expect((await tasksNow()).tasks.map((t) => t.id)).not.toContain("bad-nan");
  });

  it("refuses a truncated safetensors file and DoRA", async () => {
    const weights = await fixtureBytes("adapters/gec-de/adapter_model.safetensors");
    const config = await fixtureBytes("adapters/gec-de/adapter_config.json");
    const truncated = { "adapter_config.json": config, "adapter_model.safetensors": weights.subarray(0, weights.byteLength - 100) };
    await refused(await uploadAdapter("bad-truncated", truncated), 422, "past the data section");
    const dora = { ...JSON.parse(new TextDecoder().decode(config)), use_dora: true };
    const files = { "adapter_config.json": new TextEncoder().encode(JSON.stringify(dora)), "adapter_model.safetensors": weights };
    await refused(await uploadAdapter("bad-dora", files), 422, "DoRA");
  });

  it("names the example line that is malformed or too long, and keeps the stored examples", async () => {
    expect((await uploadAdapter("qa-en")).status).toBe(201);
    expect((await uploadExamples("qa-en", "fewshot")).status).toBe(201);
    const stored = await (await env.BUCKET.get(examplesKey("qa-en", "fewshot")))!.text();
    const long = `{"prompt":"p","completion":"ok"}\n{"prompt":"${"a".repeat(80)}","completion":"b"}\n`;
    await refused(await uploadExamples("qa-en", "fewshot", new TextEncoder().encode(long)), 400, "line 2");
    await refused(await uploadExamples("qa-en", "fewshot", new TextEncoder().encode('{"prompt": 1}\n')), 400, "line 1");
    expect(await (await env.BUCKET.get(examplesKey("qa-en", "fewshot")))!.text()).toBe(stored);
  });
});

describe("evaluate and delete", () => {
  it("evaluates a task's few-shot loss under its own adapter and the base model", async () => {
    expect((await uploadAdapter("tone-ko")).status).toBe(201);
    expect((await uploadExamples("tone-ko", "fewshot")).status).toBe(201);
    expect((await uploadExamples("tone-ko", "test")).status).toBe(201);
    const run = async (adapter: string, split: string) =>
      (await (await call("/v1/evaluate", { method: "POST", body: JSON.stringify({ task: "tone-ko", adapter, split }) })).json()) as {
        loss: number; exactMatch?: number; examples: number; tokens: number; ms: number;
      };
    const own = await run("tone-ko", "fewshot");
    const base = await run("none", "fewshot");
    expect(own.examples).toBe(10);
    expect(own.loss).toBeLessThan(base.loss / 4);
    expect(own.exactMatch).toBeUndefined();
    const held = await run("tone-ko", "test");
    expect(held.exactMatch).toBeGreaterThan(0.9);
    const bad = await call("/v1/evaluate", { method: "POST", body: JSON.stringify({ task: "tone-ko", adapter: "none", split: "train" }) });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as ErrorBody).error.message).toContain("split");
  });

  it("deletes a task, its blobs, and bumps the version", async () => {
    expect((await uploadAdapter("sum-it")).status).toBe(201);
    const before = await tasksNow();
    const response = await call("/v1/tasks/sum-it", { method: "DELETE", headers: ADMIN });
    expect(response.status).toBe(200);
    expect((await tasksNow()).catalogueVersion).toBe(before.catalogueVersion + 1);
    expect((await call("/v1/tasks/sum-it")).status).toBe(404);
    expect(await env.BUCKET.head(adapterKey("sum-it", "adapter_model.safetensors"))).toBeNull();
  });
});
