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

/** ||B A||_F without forming B A: sum((A A^T) .* (B^T B)) over r x r Gram matrices, in float64. */
export function deltaNorm({ rank: r, a, b }: LoraFactors): number {
  const inDim = a.length / r;
  const outDim = b.length / r;
  let total = 0;
  for (let i = 0; i < r; i++) {
    for (let j = i; j < r; j++) {
      let ga = 0;
      for (let k = 0; k < inDim; k++) ga += a[i * inDim + k] * a[j * inDim + k];
      let gb = 0;
      for (let k = 0; k < outDim; k++) gb += b[k * r + i] * b[k * r + j];
      total += (i === j ? 1 : 2) * ga * gb;
    }
  }
  return Math.sqrt(Math.max(total, 0));
}
