/**
 * LoRA graph surgery (src/models/surgery.ts) inside workerd: the plain reference export
 * (r2-fixtures/models/d2c-char-lm/plain/model.onnx, tools/fixtures/plain.py) is given its LoRA
 * inputs here, the bytes are loaded into onnxruntime-web (src/inference/ort.ts), and the logits are
 * compared with the LoRA-input export's (models/d2c-char-lm/model.onnx) and the PyTorch golden NLL
 * (golden/probe.json, tools/fixtures/build.py), with no adapter and three fixture adapters; and the
 * qwen-bias-tiny variant against its own LoRA-input export and golden file.
 */
import { Tokenizer } from "@huggingface/tokenizers";
import { beforeAll, describe, expect, it } from "vitest";
import type { AdapterFactors } from "../../src/adapters/factors";
import { parsePeftConfig, peftToFactors } from "../../src/adapters/peft";
import type { ModelContract } from "../../src/inference/contract";
import { batchOf, forward, type LoadedModel } from "../../src/inference/forward";
import { scoreBatch } from "../../src/inference/loss";
import { createSession, ort } from "../../src/inference/ort";
import type { Example } from "../../src/storage/examples";
import { addLoraInputs, loraInputsOf, type SurgeryResult } from "../../src/models/surgery";
import { fixtureBytes, fixtureJson } from "../worker/seed";

const MODEL = "models/d2c-char-lm";
const ADAPTERS = ["gec-de", "reply-ja", "qa-en"];
type Probe = { examples: Example[]; adapters: Record<string, { nll: number[] }> };

let contract: ModelContract;
let result: SurgeryResult;
let surgered: LoadedModel;
let reference: LoadedModel;
let probe: Probe;
const adapters = new Map<string, AdapterFactors>();

function maxAbsDiff(x: Float32Array, y: Float32Array): number {
  expect(x.length).toBe(y.length);
  return x.reduce((m, v, i) => Math.max(m, Math.abs(v - y[i])), 0);
}

beforeAll(async () => {
  contract = await fixtureJson<ModelContract>(`${MODEL}/model.json`);
  probe = await fixtureJson<Probe>("golden/probe.json");
  const tokenizer = new Tokenizer(
    await fixtureJson(`${MODEL}/tokenizer.json`),
    await fixtureJson(`${MODEL}/tokenizer_config.json`),
  );
  result = addLoraInputs(await fixtureBytes(`${MODEL}/plain/model.onnx`));
  surgered = {
    contract: { ...contract, loraTargets: result.targets },
    tokenizer,
    session: await createSession(result.onnx),
    Tensor: ort.Tensor,
  };
  reference = {
    contract,
    tokenizer,
    session: await createSession(await fixtureBytes(`${MODEL}/model.onnx`)),
    Tensor: ort.Tensor,
  };
  for (const task of ADAPTERS) {
    const config = parsePeftConfig(await fixtureJson(`adapters/${task}/adapter_config.json`));
    adapters.set(
      task,
      peftToFactors(config, await fixtureBytes(`adapters/${task}/adapter_model.safetensors`), contract.loraTargets),
    );
  }
});

describe("surgery in workerd, run by onnxruntime-web", () => {
  it("derives the reference model.json's targets, vocabulary and max sequence", () => {
    expect(result.targets).toEqual(contract.loraTargets);
    expect(result.vocabSize).toBe(contract.vocabSize);
    expect(result.maxSequence).toBe(contract.maxSequence);
    expect(loraInputsOf(result.onnx)).toHaveLength(2 * contract.loraTargets.length);
    expect(surgered.session.inputNames).toEqual(reference.session.inputNames);
  });

  it("logits of the LoRA-input export within 1e-5, with no adapter and three adapters", async () => {
    const batch = batchOf(surgered, probe.examples);
    for (const name of ["none", ...ADAPTERS]) {
      const adapter = name === "none" ? null : adapters.get(name)!;
      const gap = maxAbsDiff(await forward(surgered, batch, adapter), await forward(reference, batch, adapter));
      console.log(`workerd surgery parity, ${name}: max |logits diff| ${gap.toExponential(2)}`);
      expect(gap, name).toBeLessThan(1e-5);
    }
  });

  it("the PyTorch golden NLL within 1e-4 relative", async () => {
    const batch = batchOf(surgered, probe.examples);
    let worst = 0;
    for (const name of ["none", ...ADAPTERS]) {
      const logits = await forward(surgered, batch, name === "none" ? null : adapters.get(name)!);
      scoreBatch(batch, logits, contract.vocabSize).forEach((s, i) => {
        const rel = Math.abs(s.nll - probe.adapters[name].nll[i]) / probe.adapters[name].nll[i];
        worst = Math.max(worst, rel);
        expect(rel, `${name} example ${i}`).toBeLessThan(1e-4);
      });
    }
    console.log(`workerd surgery vs golden NLL: max rel ${worst.toExponential(2)}`);
  });
});

describe("surgery in workerd on the qwen-bias-tiny variant (q/k/v biases)", () => {
  it("logits of its LoRA-input export within 1e-5, no adapter and a random adapter", async () => {
    // r2-fixtures/variants/qwen-bias-tiny, written by `python3 tools/fixtures/variant.py --seed 0`.
    const dir = "variants/qwen-bias-tiny";
    const variant = await fixtureJson<ModelContract>(`${dir}/model.json`);
    const golden = await fixtureJson<Probe>(`${dir}/golden.json`);
    const tokenizer = new Tokenizer(
      await fixtureJson(`${dir}/tokenizer.json`),
      await fixtureJson(`${dir}/tokenizer_config.json`),
    );
    const plain = addLoraInputs(await fixtureBytes(`${dir}/plain/model.onnx`));
    expect(plain.targets).toEqual(variant.loraTargets);
    const model = {
      contract: { ...variant, loraTargets: plain.targets },
      tokenizer,
      session: await createSession(plain.onnx),
      Tensor: ort.Tensor,
    };
    const lora = {
      contract: variant,
      tokenizer,
      session: await createSession(await fixtureBytes(`${dir}/model.onnx`)),
      Tensor: ort.Tensor,
    };
    const config = parsePeftConfig(await fixtureJson(`${dir}/adapters/random-0/adapter_config.json`));
    const adapter = peftToFactors(
      config,
      await fixtureBytes(`${dir}/adapters/random-0/adapter_model.safetensors`),
      variant.loraTargets,
    );
    const batch = batchOf(model, golden.examples);
    for (const [name, factors] of [
      ["none", null],
      ["random-0", adapter],
    ] as const) {
      const logits = await forward(model, batch, factors);
      expect(maxAbsDiff(logits, await forward(lora, batch, factors)), name).toBeLessThan(1e-5);
      scoreBatch(batch, logits, variant.vocabSize).forEach((s, i) => {
        expect(
          Math.abs(s.nll - golden.adapters[name].nll[i]) / golden.adapters[name].nll[i],
          `${name} example ${i}`,
        ).toBeLessThan(1e-4);
      });
    }
  });
});
