/**
 * Task vectors: each adapter's update delta W = B A of every module, flattened into one vector
 * and normalised. Only their inner products are ever needed (k-means below is written on the
 * Gram matrix), and <B1 A1, B2 A2>_F = trace((B1^T B2)(A2 A1^T)) costs r1 r2 (in + out) per
 * module instead of in x out: 40 adapters' vectors would be 40 MB as dense floats.
 */
import type { AdapterFactors, LoraFactors, LoraTarget } from "../adapters/factors";

/** Cosine similarities of the adapters' task vectors, n x n row-major. */
export function taskSimilarity(adapters: readonly AdapterFactors[], targets: readonly LoraTarget[]): Float64Array {
  const n = adapters.length;
  return cosineFromGram(gramBlock(adapters, adapters, targets, true), n);
}

/**
 * Inner products of the task vectors of `rows` with those of `cols`, rows.length x cols.length
 * row-major, unnormalised. `symmetric` (rows and cols the same adapters) computes the upper
 * triangle once and mirrors it. A block of the Gram matrix gives the very numbers the whole does
 * (the same products summed in the same module order), so a large catalogue's matrix can be
 * computed in blocks on the queue (src/runs/similarityBlocks.ts) and assembled bit for bit.
 */
export function gramBlock(
  rows: readonly AdapterFactors[],
  cols: readonly AdapterFactors[],
  targets: readonly LoraTarget[],
  symmetric = false,
): Float64Array {
  const [n, m] = [rows.length, cols.length];
  const gram = new Float64Array(n * m);
  const factorsOf = (adapters: readonly AdapterFactors[], target: LoraTarget) =>
    adapters.map((adapter, i) => {
      const f = adapter.get(target.module);
      if (!f) throw new RangeError(`adapter ${i} has no factors for ${target.module}`);
      return f;
    });
  for (const target of targets) {
    const x = factorsOf(rows, target);
    const y = symmetric ? x : factorsOf(cols, target);
    for (let i = 0; i < n; i++) {
      for (let j = symmetric ? i : 0; j < m; j++) {
        const dot = deltaDot(x[i], y[j], target);
        gram[i * m + j] += dot;
        if (symmetric && i !== j) gram[j * m + i] += dot;
      }
    }
  }
  return gram;
}

/** The Gram matrix (n x n) normalised to cosines, in place. */
export function cosineFromGram(gram: Float64Array, n: number): Float64Array {
  const norm = Array.from({ length: n }, (_, i) => Math.sqrt(gram[i * n + i]));
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      const scale = norm[i] * norm[j];
      // A zero adapter points nowhere: similar to nothing, itself included.
      gram[i * n + j] = scale > 0 ? gram[i * n + j] / scale : i === j ? 1 : 0;
    }
  }
  return gram;
}

/** Frobenius inner product of B1 A1 and B2 A2 through the factors only. */
export function deltaDot(x: LoraFactors, y: LoraFactors, target: LoraTarget): number {
  const { in: cols, out: rows } = target;
  let sum = 0;
  for (let p = 0; p < x.rank; p++) {
    for (let q = 0; q < y.rank; q++) {
      let bb = 0; // (B1^T B2)[p][q]
      for (let o = 0; o < rows; o++) bb += x.b[o * x.rank + p] * y.b[o * y.rank + q];
      let aa = 0; // (A2 A1^T)[q][p]
      for (let c = 0; c < cols; c++) aa += y.a[q * cols + c] * x.a[p * cols + c];
      sum += bb * aa;
    }
  }
  return sum;
}
