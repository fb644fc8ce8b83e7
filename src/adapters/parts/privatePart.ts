/**
 * A private part (issue 21): one task's own update, truncated by SVD to rank r and stored at one
 * precision. Per module, delta W = B A is cut to its r leading singular components (through the
 * factors, never forming delta W: src/adapters/merge/lowRank.ts); B = U_r S_r is stored
 * component-major ([r, out], B transposed) so that each quantisation block holds values of one
 * component only, and A = V_r^T as [r, in]. `materialise` gives back the plain LoRA a runtime loads.
 */
import type { AdapterFactors, LoraFactors, LoraTarget } from "../factors";
import { lowRankSvdMerge } from "../merge/lowRank";
import { dequantize, quantize, storedBytes, type PartDtype, type StoredTensor } from "./quantize";

export interface StoredFactors {
  /** A as stored: [rank, in]. */
  readonly a: StoredTensor;
  /** B transposed, as stored: [rank, out]. */
  readonly bT: StoredTensor;
}

export interface PrivatePart {
  readonly kind: "private";
  readonly task: string;
  readonly rank: number;
  readonly dtype: PartDtype;
  /** Per target module, in the model contract's order. */
  readonly modules: ReadonlyMap<string, StoredFactors>;
}

/** The task's adapter truncated to `rank` and stored at `dtype`. */
export function privatePart(
  task: string,
  adapter: AdapterFactors,
  targets: readonly LoraTarget[],
  rank: number,
  dtype: PartDtype,
): PrivatePart {
  if (!Number.isInteger(rank) || rank < 1) throw new RangeError(`rank must be a whole number >= 1, got ${rank}`);
  const modules = new Map<string, StoredFactors>();
  for (const target of targets) {
    const own = adapter.get(target.module);
    if (!own) throw new RangeError(`task ${task}: no factors for ${target.module}`);
    const cut = lowRankSvdMerge([own], [1], target, rank);
    modules.set(target.module, { a: quantize(cut.a, dtype), bT: quantize(transpose(cut.b, target.out, rank), dtype) });
  }
  return { kind: "private", task, rank, dtype, modules };
}

/** Bytes of a private part of `rank` at `dtype` over these targets, without building it: what the allocator prices. */
export function privatePartBytes(targets: readonly LoraTarget[], rank: number, dtype: PartDtype): number {
  return targets.reduce((sum, t) => sum + storedBytes(rank * t.in, dtype) + storedBytes(rank * t.out, dtype), 0);
}

/** The plain LoRA (float32, scaling folded into B) the part stands for: what the device and the Worker both run. */
export function materialise(part: PrivatePart, targets: readonly LoraTarget[]): AdapterFactors {
  const factors = new Map<string, LoraFactors>();
  for (const target of targets) {
    const stored = part.modules.get(target.module);
    if (!stored) throw new RangeError(`part of task ${part.task}: no factors for ${target.module}`);
    factors.set(target.module, {
      rank: part.rank,
      a: dequantize(stored.a),
      b: transpose(dequantize(stored.bT), part.rank, target.out),
    });
  }
  return factors;
}

/** A [rows, cols] row-major matrix transposed to [cols, rows]. */
function transpose(m: Float32Array, rows: number, cols: number): Float32Array {
  const t = new Float32Array(m.length);
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) t[j * rows + i] = m[i * cols + j];
  return t;
}
