/**
 * An adapter as the model contract takes it: per LoRA target module, A [r, in] and B [out, r]
 * as float32, scaling folded into B. Every format (PEFT, merges, .onnx_adapter, GGUF) reads or
 * writes these; none of them owns the types.
 */

export interface LoraTarget {
  /** PEFT module path, e.g. `model.layers.0.self_attn.q_proj`. */
  readonly module: string;
  readonly in: number;
  readonly out: number;
}

export interface LoraFactors {
  readonly rank: number;
  /** [rank, in], row-major. */
  readonly a: Float32Array;
  /** [out, rank], row-major, scaling already applied. */
  readonly b: Float32Array;
}

/** Model inputs for one adapter: every target module of the model has factors. */
export type AdapterFactors = ReadonlyMap<string, LoraFactors>;

/** "No adapter": zero factors of rank 1, as the model contract defines. */
export function zeroFactors(target: LoraTarget): LoraFactors {
  return { rank: 1, a: new Float32Array(target.in), b: new Float32Array(target.out) };
}
