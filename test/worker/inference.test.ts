/**
 * Inference inside workerd: onnxruntime-web through the precompiled-module loader, against the
 * PyTorch golden file (r2-fixtures/golden/probe.json, written by tools/fixtures/build.py).
 */
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import type { AdapterFactors } from "../../src/adapters/factors";
import type { Example } from "../../src/storage/examples";
import { evaluate } from "../../src/inference/evaluate";
import { generate } from "../../src/inference/greedy";
import { scoreBatch } from "../../src/inference/loss";
import { batchOf, forward, type LoadedModel } from "../../src/inference/forward";
import { loadModel } from "../../src/inference/model";
import { readAdapter, readExamples } from "../../src/storage/adapters";
import { adapterKey, examplesKey, modelKey } from "../../src/storage/keys";
import { fixtureJson, seedKeys } from "./seed";

const MODEL = "d2c-char-lm";
const TASKS = ["gec-de", "reply-ja", "qa-en", "tone-ko"];
let model: LoadedModel;

const adapter = (taskId: string): Promise<AdapterFactors> =>
  readAdapter(env.BUCKET, taskId, model.contract.loraTargets);
const examples = async (taskId: string, split: "fewshot" | "test"): Promise<Example[]> =>
  (await readExamples(env.BUCKET, taskId, split))!;

beforeAll(async () => {
  await seedKeys([
    ...["model.onnx", "model.json", "tokenizer.json", "tokenizer_config.json"].map((f) => modelKey(MODEL, f)),
    ...TASKS.flatMap((t) => [
      adapterKey(t, "adapter_config.json"),
      adapterKey(t, "adapter_model.safetensors"),
      examplesKey(t, "fewshot"),
      examplesKey(t, "test"),
    ]),
  ]);
  model = await loadModel(env.BUCKET, MODEL);
});

describe("golden parity in workerd", () => {
  it("reproduces the PyTorch per-example NLL within 1e-4 relative, with and without adapters", async () => {
    type Golden = { nll: number[]; logits: number[][] };
    const probe = await fixtureJson<{
      examples: Example[];
      logitsSlice: [number, number];
      adapters: Record<string, Golden>;
    }>("golden/probe.json");
    const batch = batchOf(model, probe.examples);
    const vocab = model.contract.vocabSize;
    for (const name of ["none", "gec-de", "reply-ja", "qa-en"]) {
      const golden = probe.adapters[name];
      const logits = await forward(model, batch, name === "none" ? null : await adapter(name));
      scoreBatch(batch, logits, vocab).forEach((s, i) => {
        expect(Math.abs(s.nll - golden.nll[i]) / golden.nll[i], `${name} example ${i}`).toBeLessThan(1e-4);
      });
      const [positions, entries] = probe.logitsSlice;
      for (let p = 0; p < positions; p++) {
        for (let v = 0; v < entries; v++) expect(logits[p * vocab + v]).toBeCloseTo(golden.logits[p][v], 3);
      }
    }
  });
});

describe("evaluate", () => {
  it("a task's own adapter lowers its few-shot loss and lifts held-out exact match over the base model", async () => {
    const test = await examples("qa-en", "test");
    const base = await evaluate(model, test, null);
    const own = await evaluate(model, test, await adapter("qa-en"));
    expect(own.examples).toBe(test.length);
    expect(own.tokens).toBeGreaterThan(test.length);
    expect(own.loss).toBeLessThan(base.loss / 2);
    expect(own.exactMatch - base.exactMatch).toBeGreaterThanOrEqual(0.3);
  });

  it("greedy decoding reproduces a completion exactly when teacher-forced exact match says so", async () => {
    for (const task of ["tone-ko", "qa-en"]) {
      const factors = await adapter(task);
      const fewshot = await examples(task, "fewshot");
      const batch = batchOf(model, fewshot);
      const scores = scoreBatch(batch, await forward(model, batch, factors), model.contract.vocabSize);
      for (const [i, e] of fewshot.entries()) {
        const decoded = await generate(model, e.prompt, factors);
        expect(decoded === e.completion, `${task}: ${e.prompt} -> ${decoded}`).toBe(scores[i].exact);
      }
    }
  });
});
