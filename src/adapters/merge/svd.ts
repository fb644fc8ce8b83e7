/**
 * The dense path of the svd family: delta W = B A per adapter as an [out, in] float64 matrix,
 * combined, then a truncated SVD back to LoRA factors. The pruning methods must take this path
 * (they act on single entries of delta W, which have no low-rank form); `svd` takes it only
 * when the summed rank reaches min(out, in) (see lowRank.ts).
 */
import { Matrix, SingularValueDecomposition } from "ml-matrix";
import type { LoraFactors, LoraTarget } from "../factors";

/** delta W = B A, [out, in] row-major, in float64; with `into`, adds weight * B A to it instead. */
export function deltaW(
  f: LoraFactors,
  target: LoraTarget,
  weight = 1,
  into = new Float64Array(target.out * target.in),
): Float64Array {
  const { in: cols, out: rows } = target;
  for (let o = 0; o < rows; o++) {
    const row = o * cols;
    for (let r = 0; r < f.rank; r++) {
      const b = weight * f.b[o * f.rank + r];
      if (b === 0) continue;
      const a = r * cols;
      for (let j = 0; j < cols; j++) into[row + j] += b * f.a[a + j];
    }
  }
  return into;
}

export function weightedSum(deltas: readonly Float64Array[], weights: readonly number[]): Float64Array {
  const sum = new Float64Array(deltas[0].length);
  deltas.forEach((d, i) => {
    for (let j = 0; j < sum.length; j++) sum[j] += weights[i] * d[j];
  });
  return sum;
}

/** `svd` by the dense path: the weighted sum of the delta Ws, truncated to `rank`. */
export function denseSvdMerge(
  factors: readonly LoraFactors[],
  weights: readonly number[],
  target: LoraTarget,
  rank: number,
): LoraFactors {
  const sum = new Float64Array(target.out * target.in);
  factors.forEach((f, i) => deltaW(f, target, weights[i], sum));
  return svdFactors(sum, target, rank);
}

/** Truncated SVD of a dense [out, in] matrix as factors: B = U_k diag(S_k), A = V_k^T. */
export function svdFactors(delta: Float64Array, target: LoraTarget, rank: number): LoraFactors {
  const svd = new SingularValueDecomposition(Matrix.from1DArray(target.out, target.in, delta), { autoTranspose: true });
  return truncatedFactors(svd.leftSingularVectors, svd.diagonal, svd.rightSingularVectors, rank);
}

/**
 * B = U_k diag(S_k) [rows, rank] and A = V_k^T [rank, cols] as float32, S sorted descending.
 * Always exactly `rank` components: past the available ones they are zero. An SVD fixes each
 * component only up to sign; we make the largest-|.| entry of each column of U positive (the
 * first such entry on a tie) so equal inputs give equal bytes whichever path computed them.
 */
export function truncatedFactors(u: Matrix, s: readonly number[], v: Matrix, rank: number): LoraFactors {
  const rows = u.rows;
  const cols = v.rows;
  const k = Math.min(rank, s.length, u.columns, v.columns);
  const a = new Float32Array(rank * cols);
  const b = new Float32Array(rows * rank);
  for (let c = 0; c < k; c++) {
    let largest = -1;
    let at = 0;
    for (let i = 0; i < rows; i++) {
      const x = Math.abs(u.get(i, c));
      if (x > largest) {
        largest = x;
        at = i;
      }
    }
    const sign = u.get(at, c) < 0 ? -1 : 1;
    for (let i = 0; i < rows; i++) b[i * rank + c] = sign * u.get(i, c) * s[c];
    for (let j = 0; j < cols; j++) a[c * cols + j] = sign * v.get(j, c);
  }
  return { rank, a, b };
}
