import type { LoraTarget } from "../adapters/factors";
import type { SpecialTokens } from "./batch";

/** `models/<modelId>/model.json`: what a base model promises (README, "Bring your own model"). */
export interface ModelContract {
  readonly contractVersion: 1;
  readonly modelId: string;
  readonly maxSequence: number;
  readonly vocabSize: number;
  readonly tokens: SpecialTokens;
  readonly loraTargets: readonly LoraTarget[];
  /**
   * The graph with LoRA inputs, under `models/<modelId>/`. `externalData`: files its initializers
   * refer to (ONNX external data, e.g. `model.onnx_data`), beside it, with their digests.
   */
  readonly onnx: {
    readonly file: string;
    readonly sha256: string;
    readonly externalData?: readonly { readonly file: string; readonly sha256: string }[];
  };
  readonly tokenizer: string;
  /** llama.cpp's name for the architecture (a GGUF's `general.architecture`), e.g. "llama"; older contracts lack it. */
  readonly architecture?: string;
  /**
   * The base model's hyperparameters as tools/fixtures writes them; typed here only as far as the GGUF export reads
   * them.
   */
  readonly config?: { readonly n_heads?: number; readonly n_kv_heads?: number };
  /** Hub names the model answers to: an adapter whose `base_model_name_or_path` is one of them lands on this model. */
  readonly aliases?: readonly string[];
  /** Who evaluates it: the Worker's onnxruntime-web ("wasm", default) or the evaluator service ("remote"). */
  readonly evaluator?: "wasm" | "remote";
}
