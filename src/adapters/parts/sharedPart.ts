/**
 * Shared parts (issue 21): a cluster's tasks share one basis per module, each task keeps a full
 * core. For module m and cluster c, B_c = U_R (the R leading left singular vectors of the
 * members' updates side by side, [dW_1 ... dW_n]) and A_c = V_R^T (the leading right singular
 * vectors of the updates stacked); task t's core is S_t = U_R^T dW_t V_R, so it runs the plain
 * rank-R LoRA (A_c, B_c S_t). The singular vectors come from the out x out and in x in Gram
 * matrices sum_t dW_t dW_t^T and sum_t dW_t^T dW_t, formed through the factors (never dW itself).
 * Bases and cores are stored like private parts (./quantize.ts); a core is computed against the
 * basis as stored (dequantised), so what the device multiplies is what was fitted.
 */
import { EigenvalueDecomposition, Matrix, solve } from "ml-matrix";
import type { AdapterFactors, LoraFactors, LoraTarget } from "../factors";
import { dequantize, quantize, storedBytes, type PartDtype, type StoredTensor } from "./quantize";

export interface SharedBasis {
  readonly kind: "basis";
  readonly rank: number;
  readonly dtype: PartDtype;
  /** Per target module: A_c [rank, in] and B_c transposed [rank, out], as stored. */
  readonly modules: ReadonlyMap<string, { readonly a: StoredTensor; readonly bT: StoredTensor }>;
}

export interface TaskCore {
  readonly kind: "core";
  readonly task: string;
  readonly rank: number;
  readonly dtype: PartDtype;
  /** Per target module: S_t [rank, rank], as stored. */
  readonly modules: ReadonlyMap<string, StoredTensor>;
}

/** The basis of rank `rank` shared by `members` (each task's effective factors), stored at `dtype`. */
export function sharedBasis(
  members: readonly AdapterFactors[],
  targets: readonly LoraTarget[],
  rank: number,
  dtype: PartDtype,
): SharedBasis {
  if (!Number.isInteger(rank) || rank < 1) throw new RangeError(`rank must be a whole number >= 1, got ${rank}`);
  const modules = new Map<string, { a: StoredTensor; bT: StoredTensor }>();
  for (const target of targets) {
    const factors = members.map((m) => m.get(target.module)!);
    // Left: sum_t B_t (A_t A_t^T) B_t^T; right: sum_t A_t^T (B_t^T B_t) A_t.
    const left = new Matrix(target.out, target.out);
    const right = new Matrix(target.in, target.in);
    for (const f of factors) {
      const a = new Matrix(f.rank, target.in);
      const b = new Matrix(target.out, f.rank);
      for (let r = 0; r < f.rank; r++) {
        for (let j = 0; j < target.in; j++) a.set(r, j, f.a[r * target.in + j]);
        for (let o = 0; o < target.out; o++) b.set(o, r, f.b[o * f.rank + r]);
      }
      left.add(b.mmul(a.mmul(a.transpose())).mmul(b.transpose()));
      right.add(a.transpose().mmul(b.transpose().mmul(b)).mmul(a));
    }
    modules.set(target.module, {
      a: quantize(leadingVectors(right, rank), dtype),
      bT: quantize(leadingVectors(left, rank), dtype),
    });
  }
  return { kind: "basis", rank, dtype, modules };
}

/** Task `task`'s core in `basis`: S = B_c^+ dW A_c^+ against the basis as stored, stored at `dtype`. */
export function taskCore(
  task: string,
  adapter: AdapterFactors,
  basis: SharedBasis,
  targets: readonly LoraTarget[],
  dtype: PartDtype,
): TaskCore {
  const r = basis.rank;
  const modules = new Map<string, StoredTensor>();
  for (const target of targets) {
    const f = adapter.get(target.module);
    if (!f) throw new RangeError(`task ${task}: no factors for ${target.module}`);
    const stored = basis.modules.get(target.module)!;
    const ac = new Matrix(r, target.in);
    const bcT = new Matrix(r, target.out);
    const av = dequantize(stored.a);
    const bv = dequantize(stored.bT);
    for (let i = 0; i < r; i++) {
      for (let j = 0; j < target.in; j++) ac.set(i, j, av[i * target.in + j]);
      for (let o = 0; o < target.out; o++) bcT.set(i, o, bv[i * target.out + o]);
    }
    const a = new Matrix(f.rank, target.in);
    const b = new Matrix(target.out, f.rank);
    for (let k = 0; k < f.rank; k++) {
      for (let j = 0; j < target.in; j++) a.set(k, j, f.a[k * target.in + j]);
      for (let o = 0; o < target.out; o++) b.set(o, k, f.b[o * f.rank + k]);
    }
    // Least squares against the stored basis: (Bc^T Bc)^-1 Bc^T (B A) Ac^T (Ac Ac^T)^-1, all R x R or smaller.
    const left = solveSpd(bcT.mmul(bcT.transpose()), bcT.mmul(b));
    const right = solveSpd(ac.mmul(ac.transpose()), ac.mmul(a.transpose()));
    const core = left.mmul(right.transpose());
    modules.set(target.module, quantize(Float32Array.from(core.to1DArray()), dtype));
  }
  return { kind: "core", task, rank: r, dtype, modules };
}

/** The plain LoRA (A_c, B_c S_t) a task runs from its cluster's basis and its own core. */
export function materialiseShared(basis: SharedBasis, core: TaskCore, targets: readonly LoraTarget[]): AdapterFactors {
  const r = basis.rank;
  const factors = new Map<string, LoraFactors>();
  for (const target of targets) {
    const stored = basis.modules.get(target.module)!;
    const bT = dequantize(stored.bT);
    const s = dequantize(core.modules.get(target.module)!);
    // B = B_c S: b[o][j] = sum_i bT[i][o] s[i][j].
    const b = new Float32Array(target.out * r);
    for (let o = 0; o < target.out; o++) {
      for (let j = 0; j < r; j++) {
        let sum = 0;
        for (let i = 0; i < r; i++) sum += bT[i * target.out + o] * s[i * r + j];
        b[o * r + j] = sum;
      }
    }
    factors.set(target.module, { rank: r, a: dequantize(stored.a), b });
  }
  return factors;
}

/** Bytes of a basis of `rank` at `dtype` over these targets (tensor data and scales). */
export function basisBytes(targets: readonly LoraTarget[], rank: number, dtype: PartDtype): number {
  return targets.reduce((sum, t) => sum + storedBytes(rank * t.in, dtype) + storedBytes(rank * t.out, dtype), 0);
}

/** Bytes of one task's core of `rank` at `dtype`. */
export function coreBytes(targets: readonly LoraTarget[], rank: number, dtype: PartDtype): number {
  return targets.length * storedBytes(rank * rank, dtype);
}

/** The `rank` leading eigenvectors of a symmetric PSD matrix as rows of a [rank, n] array. */
function leadingVectors(gram: Matrix, rank: number): Float32Array {
  const n = gram.rows;
  const eig = new EigenvalueDecomposition(gram, { assumeSymmetric: true });
  const order = eig.realEigenvalues.map((value, i) => ({ value, i })).sort((x, y) => y.value - x.value);
  const vectors = eig.eigenvectorMatrix;
  const out = new Float32Array(rank * n);
  for (let k = 0; k < Math.min(rank, n); k++) for (let j = 0; j < n; j++) out[k * n + j] = vectors.get(j, order[k].i);
  return out;
}

/** X with G X = Y for a symmetric positive (semi)definite G, regularised so a rank-deficient basis still solves. */
function solveSpd(g: Matrix, y: Matrix): Matrix {
  const ridge = 1e-9 * Math.max(1e-30, g.diag().reduce((s, v) => s + v, 0) / g.rows);
  const reg = g.clone();
  for (let i = 0; i < g.rows; i++) reg.set(i, i, reg.get(i, i) + ridge);
  return solve(reg, y);
}
