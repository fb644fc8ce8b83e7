/** The catalogue API against the real local R2 and Catalogue Durable Object. */
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { adapterKey } from "../../src/storage/keys";
import { ADMIN, call, registerModel, uploadAdapter, uploadExamples } from "./api";

type ErrorBody = { error: { code: string; message: string } };
const tasksNow = async () =>
  (await (await call("/v1/tasks")).json()) as { tasks: Array<{ id: string }>; catalogueVersion: number };

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
    expect(task).toMatchObject({
      id: "gec-de",
      modelId: "d2c-char-lm",
      application: "gec",
      language: "de",
      rank: 8,
      examples: { fewshot: 10, test: 0 },
    });
    expect(await env.BUCKET.head(adapterKey("gec-de", "adapter_model.safetensors"))).not.toBeNull();
  });
});

describe("evaluate and delete", () => {
  it("evaluates a task's few-shot loss under its own adapter and the base model", async () => {
    expect((await uploadAdapter("tone-ko")).status).toBe(201);
    expect((await uploadExamples("tone-ko", "fewshot")).status).toBe(201);
    expect((await uploadExamples("tone-ko", "test")).status).toBe(201);
    const run = async (adapter: string, split: string) =>
      (await (
        await call("/v1/evaluate", { method: "POST", body: JSON.stringify({ task: "tone-ko", adapter, split }) })
      ).json()) as {
        loss: number;
        exactMatch?: number;
        examples: number;
        tokens: number;
        ms: number;
      };
    const own = await run("tone-ko", "fewshot");
    const base = await run("none", "fewshot");
    expect(own.examples).toBe(10);
    expect(own.loss).toBeLessThan(base.loss / 4);
    expect(own.exactMatch).toBeUndefined();
    const held = await run("tone-ko", "test");
    expect(held.exactMatch).toBeGreaterThan(0.9);
    const bad = await call("/v1/evaluate", {
      method: "POST",
      body: JSON.stringify({ task: "tone-ko", adapter: "none", split: "train" }),
    });
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
