/**
 * A base model loaded from R2: contract, tokenizer and one ONNX session, cached per isolate so
 * that every request and queue message after the first pays only for inference.
 */
import { Tokenizer } from "@huggingface/tokenizers";
import { DomainError } from "../errors";
import { modelKey } from "../storage/keys";
import type { ModelContract } from "./contract";
import type { LoadedModel } from "./forward";
import { createSession, ort } from "./ort";

type ModelText = Pick<LoadedModel, "contract" | "tokenizer">;

const loaded = new Map<string, Promise<LoadedModel>>();
const texts = new Map<string, Promise<ModelText>>();

/** `read(modelId)` once per isolate; a failure is not kept (a missing model may be registered later). */
function cached<T>(cache: Map<string, Promise<T>>, modelId: string, read: () => Promise<T>): Promise<T> {
  let value = cache.get(modelId);
  if (!value) {
    value = read();
    cache.set(modelId, value);
    value.catch(() => cache.delete(modelId));
  }
  return value;
}

export function loadModel(bucket: R2Bucket, modelId: string): Promise<LoadedModel> {
  return cached(loaded, modelId, () => readModel(bucket, modelId));
}

/**
 * A model's contract and tokenizer without its ONNX session: what checking examples needs, for
 * every model, including those only the evaluator service can load.
 */
export function loadTokenizer(bucket: R2Bucket, modelId: string): Promise<ModelText> {
  return cached(texts, modelId, () => readTokenizer(bucket, modelId));
}

/** Forget a cached model (after it is re-registered). */
export function forgetModel(modelId: string): void {
  loaded.delete(modelId);
  texts.delete(modelId);
}

async function readTokenizer(bucket: R2Bucket, modelId: string): Promise<ModelText> {
  const json = async (file: string) => {
    const object = await bucket.get(modelKey(modelId, file));
    if (!object) throw new Error(`model ${modelId}: ${file} is not in R2`);
    return object.json<Record<string, unknown>>();
  };
  const contract = (await json("model.json")) as unknown as ModelContract;
  const [tokenizerJson, tokenizerConfig] = await Promise.all([json(contract.tokenizer), json("tokenizer_config.json")]);
  return { contract, tokenizer: new Tokenizer(tokenizerJson, tokenizerConfig) };
}

async function readModel(bucket: R2Bucket, modelId: string): Promise<LoadedModel> {
  const { contract, tokenizer } = await loadTokenizer(bucket, modelId);
  if (contract.evaluator === "remote")
    throw new DomainError(
      "conflict",
      "remote_model",
      `model ${modelId} is evaluated by the evaluator service, not in the Worker`,
    );
  const onnx = await bucket.get(modelKey(modelId, contract.onnx.file));
  if (!onnx) throw new Error(`model ${modelId}: ${contract.onnx.file} is not in R2`);
  const session = await createSession(new Uint8Array(await onnx.arrayBuffer()));
  return { contract, tokenizer, session, Tensor: ort.Tensor };
}
