/** PEFT's `linear`: A and B combined separately, so delta W = (sum s_i B_i)(sum s_i' A_i) has cross terms. */
import type { LoraFactors, LoraTarget } from "../factors";

/**
 * A = sum sqrt(|w_i|) sign(w_i) A_i, B = sum sqrt(|w_i|) B_i, in float64. Every adapter must have
 * the same rank in this module, except factors that are zero in both A and B (peftToFactors'
 * "module not touched"): they add nothing to either sum at any rank, so they are skipped.
 */
export function linearMerge(
  factors: readonly LoraFactors[],
  weights: readonly number[],
  target: LoraTarget,
): LoraFactors {
  const touching = factors.map((f, i) => ({ f, w: weights[i] })).filter(({ f }) => !isZero(f));
  const ranks = [...new Set(touching.map(({ f }) => f.rank))];
  if (ranks.length > 1) {
    const listed = factors.map((f, i) => `adapter ${i}: ${f.rank}`).join(", ");
    throw new RangeError(`linear merge of ${target.module}: ranks differ (${listed}); use cat or the svd family`);
  }
  const rank = ranks[0] ?? Math.max(...factors.map((f) => f.rank));
  const a = new Float64Array(rank * target.in);
  const b = new Float64Array(target.out * rank);
  for (const { f, w } of touching) {
    const root = Math.sqrt(Math.abs(w));
    const signed = Math.sign(w) * root;
    for (let i = 0; i < a.length; i++) a[i] += signed * f.a[i];
    for (let i = 0; i < b.length; i++) b[i] += root * f.b[i];
  }
  return { rank, a: Float32Array.from(a), b: Float32Array.from(b) };
}

function isZero(f: LoraFactors): boolean {
  return f.a.every((v) => v === 0) && f.b.every((v) => v === 0);
}
