/**
 * Inference inside workerd: onnxruntime-web through the precompiled-module loader, against the
 * PyTorch golden file (r2-fixtures/golden/probe.json, written by tools/fixtures/build.py).
 */
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { parsePeftConfig, peftToFactors, type AdapterFactors } from "../../src/adapters/peft";
import { parseExamples, type Example } from "../../src/inference/contract";
import { evaluate } from "../../src/inference/evaluate";
import { generate } from "../../src/inference/greedy";
import { scoreBatch } from "../../src/inference/loss";
import { batchOf, forward, loadModel, type LoadedModel } from "../../src/inference/model";
import { adapterKey, examplesKey, modelKey } from "../../src/storage/keys";
import { fixtureJson, seedKeys } from "./seed";

const MODEL = "d2c-char-lm";
const TASKS = ["gec-de", "reply-ja", "qa-en", "tone-ko"];
let model: LoadedModel;

async function adapter(taskId: string): Promise<AdapterFactors> {
  const config = await (await env.BUCKET.get(adapterKey(taskId, "adapter_config.json")))!.json();
  const weights = await (await env.BUCKET.get(adapterKey(taskId, "adapter_model.safetensors")))!.arrayBuffer();
  return peftToFactors(parsePeftConfig(config), new Uint8Array(weights), model.contract.loraTargets);
}

async function examples(taskId: string, split: "fewshot" | "test"): Promise<Example[]> {
  return parseExamples(await (await env.BUCKET.get(examplesKey(taskId, split)))!.text());
}

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
    const probe = await fixtureJson<{ examples: Example[]; adapters: Record<string, { nll: number[] }> }>("golden/probe.json");
    const batch = batchOf(model, probe.examples);
    for (const name of ["none", "gec-de", "reply-ja", "qa-en"]) {
      const factors = name === "none" ? null : await adapter(name);
      const scores = scoreBatch(batch, await forward(model, batch, factors), model.contract.vocabSize);
      scores.forEach((s, i) => {
        const expected = probe.adapters[name].nll[i];
        expect(Math.abs(s.nll - expected) / expected, `${name} example ${i}`).toBeLessThan(1e-4);
      });
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
