/**
 * Tokenising, batching and one forward pass of a loaded model. Free of any runtime import, so
 * the same code drives onnxruntime-web in workerd and onnxruntime-node in the offline experiment.
 */
import type { Tokenizer } from "@huggingface/tokenizers";
import type { InferenceSession, Tensor } from "onnxruntime-web/wasm";
import { zeroFactors, type AdapterFactors } from "../adapters/factors";
import { buildBatch, type Batch, type ExampleTokens } from "./batch";
import type { ModelContract } from "./contract";
import type { Example } from "../storage/examples";

export interface LoadedModel {
  readonly contract: ModelContract;
  readonly tokenizer: Tokenizer;
  readonly session: InferenceSession;
  /** The runtime's tensor class (onnxruntime-web's or onnxruntime-node's, both onnxruntime-common's). */
  readonly Tensor: typeof Tensor;
}

export function tokenize(model: Pick<LoadedModel, "tokenizer">, examples: readonly Example[]): ExampleTokens[] {
  const encode = (text: string) => model.tokenizer.encode(text, { add_special_tokens: false }).ids;
  return examples.map((e) => ({ prompt: encode(e.prompt), completion: encode(e.completion) }));
}

/**
 * Forward passes this isolate has run, counted where they happen: what a run's cost claims is
 * checked against it (test/worker/runs.test.ts), not derived from the run's own bookkeeping.
 */
let forwardPasses = 0;

export function forwardPassesRun(): number {
  return forwardPasses;
}

/** Logits [size, width, vocab] of a batch under an adapter (null: the base model). */
export async function forward(model: LoadedModel, batch: Batch, adapter: AdapterFactors | null): Promise<Float32Array> {
  const feeds: Record<string, Tensor> = {
    input_ids: new model.Tensor("int64", batch.inputIds, [batch.size, batch.width]),
    attention_mask: new model.Tensor("int64", batch.attentionMask, [batch.size, batch.width]),
  };
  for (const target of model.contract.loraTargets) {
    const f = adapter?.get(target.module) ?? zeroFactors(target);
    feeds[`${target.module}.lora_A`] = new model.Tensor("float32", f.a, [f.rank, target.in]);
    feeds[`${target.module}.lora_B`] = new model.Tensor("float32", f.b, [target.out, f.rank]);
  }
  forwardPasses++;
  const { logits } = await model.session.run(feeds);
  return logits.data as Float32Array;
}

export function batchOf(model: LoadedModel, examples: readonly Example[]): Batch {
  return buildBatch(tokenize(model, examples), model.contract.tokens, model.contract.maxSequence);
}
