/**
 * Eigendecomposition of a small symmetric matrix by cyclic Jacobi rotations: CMA-ES samples
 * through C = B D^2 B^T each generation. Plain arrays and a fixed sweep order, so the same C
 * gives the same bits on every machine (the optimiser's state must replay exactly).
 */

export interface SymmetricEigen {
  /** Eigenvalues, in the order of the columns of `vectors` (not sorted). */
  readonly values: number[];
  /** Row-major n x n; column j is the unit eigenvector of values[j]. */
  readonly vectors: number[][];
}

/** At most this many sweeps; n <= 64 converges in well under 20 for a covariance matrix. */
const MAX_SWEEPS = 50;

export function symmetricEigen(matrix: readonly (readonly number[])[]): SymmetricEigen {
  const n = matrix.length;
  matrix.forEach((row, i) => {
    if (row.length !== n) throw new RangeError(`matrix must be ${n} x ${n}, row ${i} has ${row.length} entries`);
  });
  const a = matrix.map((row) => [...row]);
  const v: number[][] = Array.from({ length: n }, (_, i) => Array.from({ length: n }, (_, j) => (i === j ? 1 : 0)));
  for (let sweep = 0; sweep < MAX_SWEEPS; sweep++) {
    let off = 0;
    let diag = 0;
    for (let i = 0; i < n; i++) {
      diag += a[i][i] * a[i][i];
      for (let j = i + 1; j < n; j++) off += a[i][j] * a[i][j];
    }
    if (off <= 1e-30 * diag || off === 0) break;
    for (let p = 0; p < n; p++) {
      for (let q = p + 1; q < n; q++) {
        if (a[p][q] === 0) continue;
        // The rotation that zeroes a[p][q] (Numerical Recipes' stable form).
        const theta = (a[q][q] - a[p][p]) / (2 * a[p][q]);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        for (let k = 0; k < n; k++) {
          const akp = a[k][p];
          const akq = a[k][q];
          a[k][p] = c * akp - s * akq;
          a[k][q] = s * akp + c * akq;
        }
        for (let k = 0; k < n; k++) {
          const apk = a[p][k];
          const aqk = a[q][k];
          a[p][k] = c * apk - s * aqk;
          a[q][k] = s * apk + c * aqk;
        }
        for (let k = 0; k < n; k++) {
          const vkp = v[k][p];
          const vkq = v[k][q];
          v[k][p] = c * vkp - s * vkq;
          v[k][q] = s * vkp + c * vkq;
        }
      }
    }
  }
  return { values: a.map((row, i) => row[i]), vectors: v };
}
