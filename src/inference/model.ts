/**
 * A base model loaded from R2: contract, tokenizer and one ONNX session, cached per isolate so
 * that every request and queue message after the first pays only for inference.
 */
import { Tokenizer } from "@huggingface/tokenizers";
import { zeroFactors, type AdapterFactors } from "../adapters/peft";
import { modelKey } from "../storage/keys";
import { buildBatch, type Batch, type ExampleTokens } from "./batch";
import type { Example, ModelContract } from "./contract";
import { createSession, ort } from "./ort";

export interface LoadedModel {
  readonly contract: ModelContract;
  readonly tokenizer: Tokenizer;
  readonly session: ort.InferenceSession;
}

const loaded = new Map<string, Promise<LoadedModel>>();

export function loadModel(bucket: R2Bucket, modelId: string): Promise<LoadedModel> {
  let model = loaded.get(modelId);
  if (!model) {
    model = readModel(bucket, modelId);
    loaded.set(modelId, model);
    model.catch(() => loaded.delete(modelId)); // a missing model may be registered later
  }
  return model;
}

/** Forget a cached model (after it is re-registered). */
export function forgetModel(modelId: string): void {
  loaded.delete(modelId);
}

async function readModel(bucket: R2Bucket, modelId: string): Promise<LoadedModel> {
  const json = async (file: string) => {
    const object = await bucket.get(modelKey(modelId, file));
    if (!object) throw new Error(`model ${modelId}: ${file} is not in R2`);
    return object.json<Record<string, unknown>>();
  };
  const contract = (await json("model.json")) as unknown as ModelContract;
  const [tokenizerJson, tokenizerConfig, onnx] = await Promise.all([
    json(contract.tokenizer),
    json("tokenizer_config.json"),
    bucket.get(modelKey(modelId, contract.onnx.file)),
  ]);
  if (!onnx) throw new Error(`model ${modelId}: ${contract.onnx.file} is not in R2`);
  const session = await createSession(new Uint8Array(await onnx.arrayBuffer()));
  return { contract, tokenizer: new Tokenizer(tokenizerJson, tokenizerConfig), session };
}

export function tokenize(model: LoadedModel, examples: readonly Example[]): ExampleTokens[] {
  const encode = (text: string) => model.tokenizer.encode(text, { add_special_tokens: false }).ids;
  return examples.map((e) => ({ prompt: encode(e.prompt), completion: encode(e.completion) }));
}

/** Logits [size, width, vocab] of a batch under an adapter (null: the base model). */
export async function forward(model: LoadedModel, batch: Batch, adapter: AdapterFactors | null): Promise<Float32Array> {
  const feeds: Record<string, ort.Tensor> = {
    input_ids: new ort.Tensor("int64", batch.inputIds, [batch.size, batch.width]),
    attention_mask: new ort.Tensor("int64", batch.attentionMask, [batch.size, batch.width]),
  };
  for (const target of model.contract.loraTargets) {
    const f = adapter?.get(target.module) ?? zeroFactors(target);
    feeds[`${target.module}.lora_A`] = new ort.Tensor("float32", f.a, [f.rank, target.in]);
    feeds[`${target.module}.lora_B`] = new ort.Tensor("float32", f.b, [target.out, f.rank]);
  }
  const { logits } = await model.session.run(feeds);
  return logits.data as Float32Array;
}

export function batchOf(model: LoadedModel, examples: readonly Example[]): Batch {
  return buildBatch(tokenize(model, examples), model.contract.tokens, model.contract.maxSequence);
}
