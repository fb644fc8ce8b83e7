/** PEFT's `cat`: exact, delta W = sum w_i B_i A_i; the rank is the sum of the ranks. */
import type { LoraFactors, LoraTarget } from "../factors";

/** A = [w_1 A_1; w_2 A_2; ...] stacked row-wise, B = [B_1 B_2 ...] side by side. */
export function catMerge(factors: readonly LoraFactors[], weights: readonly number[], target: LoraTarget): LoraFactors {
  const rank = factors.reduce((sum, f) => sum + f.rank, 0);
  const a = new Float32Array(rank * target.in);
  const b = new Float32Array(target.out * rank);
  let offset = 0;
  factors.forEach((f, i) => {
    const w = weights[i];
    for (let j = 0; j < f.a.length; j++) a[offset * target.in + j] = w * f.a[j];
    for (let o = 0; o < target.out; o++) b.set(f.b.subarray(o * f.rank, (o + 1) * f.rank), o * rank + offset);
    offset += f.rank;
  });
  return { rank, a, b };
}
