/**
 * The low-rank path of `svd`: the weighted sum of n adapters is B' A' with B' = [w_i B_i]
 * [out, R] and A' = [A_i] stacked [R, in], R the summed rank. With QRs B' = Qb Rb and
 * A'^T = Qa Ra, B' A' = Qb (Rb Ra^T) Qa^T, so the SVD of the small R x R core gives the SVD
 * of delta W without ever forming the [out, in] matrix: O((out + in) R^2 + R^3), not O(out in R).
 */
import { Matrix, QrDecomposition, SingularValueDecomposition } from "ml-matrix";
import type { LoraFactors, LoraTarget } from "../factors";
import { truncatedFactors } from "./svd";

/** Weighted sum of B_i A_i truncated to `rank`; a side of size <= R is kept as is, not reduced. */
export function lowRankSvdMerge(
  factors: readonly LoraFactors[],
  weights: readonly number[],
  target: LoraTarget,
  rank: number,
): LoraFactors {
  const total = factors.reduce((sum, f) => sum + f.rank, 0);
  const bStack = new Matrix(target.out, total);
  const aStackT = new Matrix(target.in, total);
  let offset = 0;
  factors.forEach((f, i) => {
    for (let r = 0; r < f.rank; r++) {
      for (let o = 0; o < target.out; o++) bStack.set(o, offset + r, weights[i] * f.b[o * f.rank + r]);
      for (let j = 0; j < target.in; j++) aStackT.set(j, offset + r, f.a[r * target.in + j]);
    }
    offset += f.rank;
  });
  const [qb, rb] = reduce(bStack);
  const [qa, ra] = reduce(aStackT);
  const svd = new SingularValueDecomposition(rb.mmul(ra.transpose()), { autoTranspose: true });
  const s = svd.diagonal;
  const k = Math.min(rank, s.length);
  const leading = (m: Matrix) => m.subMatrix(0, m.rows - 1, 0, k - 1);
  let u = leading(svd.leftSingularVectors);
  let v = leading(svd.rightSingularVectors);
  if (qb) u = qb.mmul(u);
  if (qa) v = qa.mmul(v);
  return truncatedFactors(u, s, v, rank);
}

/** [Q, R] of a tall matrix (economy size), or [null, M] when it has no more rows than columns. */
function reduce(m: Matrix): [Matrix | null, Matrix] {
  if (m.rows <= m.columns) return [null, m];
  const qr = new QrDecomposition(m);
  return [qr.orthogonalMatrix, qr.upperTriangularMatrix];
}
