/**
 * K-means on normalised task vectors, written on their cosine matrix (kernel k-means), so the
 * vectors themselves are never materialised. It is the K-means baseline and D2C's initialisation.
 * Squared distances of unit vectors: |x - y|^2 = 2 - 2 cos(x, y), and to a cluster mean
 * |x - m_S|^2 = 1 - 2/|S| sum_j cos(x, j) + 1/|S|^2 sum_ij cos(i, j).
 */
import { canonical } from "./assignment";
import { drawWeighted, seededRandom, type Random } from "../prng";
import { checkK } from "./random";

export interface KMeansOptions {
  /** Lloyd iterations at most; 100 is far beyond what 40 tasks need to settle. */
  readonly maxIterations?: number;
}

/** k-means++ seeding (D^2 sampling) then Lloyd iterations to a fixed point. */
export function kmeans(
  similarity: Float64Array,
  n: number,
  k: number,
  seed: number,
  options: KMeansOptions = {},
): number[] {
  checkK(n, k);
  checkSimilarity(similarity, n);
  const random = seededRandom(seed);
  let assignment = nearestCentre(similarity, n, kmeansPlusPlus(similarity, n, k, random));
  for (let iteration = 0; iteration < (options.maxIterations ?? 100); iteration++) {
    const next = lloydStep(similarity, n, k, assignment);
    if (next.every((c, i) => c === assignment[i])) break;
    assignment = next;
  }
  return canonical(assignment);
}

/** k-means++: the first centre uniformly, each next one with probability ~ squared distance. */
export function kmeansPlusPlus(similarity: Float64Array, n: number, k: number, random: Random): number[] {
  const centres = [Math.floor(random() * n)];
  const d2 = Float64Array.from({ length: n }, (_, i) => squared(similarity, n, i, centres[0]));
  while (centres.length < k) {
    // All remaining tasks coincide with a centre: take the first unused one.
    const next = d2.some((d) => d > 1e-12) ? drawWeighted(random, d2) : d2.findIndex((_, i) => !centres.includes(i));
    centres.push(next);
    for (let i = 0; i < n; i++) d2[i] = Math.min(d2[i], squared(similarity, n, i, next));
  }
  return centres;
}

function squared(similarity: Float64Array, n: number, i: number, j: number): number {
  return Math.max(0, 2 - 2 * similarity[i * n + j]);
}

function nearestCentre(similarity: Float64Array, n: number, centres: readonly number[]): number[] {
  const assignment = Array.from({ length: n }, (_, i) => argmin(centres.map((c) => squared(similarity, n, i, c))));
  centres.forEach((c, cluster) => (assignment[c] = cluster)); // a centre always keeps its own cluster
  return assignment;
}

function lloydStep(similarity: Float64Array, n: number, k: number, assignment: readonly number[]): number[] {
  const members: number[][] = Array.from({ length: k }, () => []);
  assignment.forEach((c, i) => members[c].push(i));
  const selfTerm = members.map((m) => {
    let s = 0;
    for (const i of m) for (const j of m) s += similarity[i * n + j];
    return m.length ? s / (m.length * m.length) : 0;
  });
  const distance = (i: number, c: number) => {
    const m = members[c];
    if (m.length === 0) return Infinity;
    let s = 0;
    for (const j of m) s += similarity[i * n + j];
    return 1 - (2 * s) / m.length + selfTerm[c];
  };
  const next = Array.from({ length: n }, (_, i) =>
    argmin(
      Array.from({ length: k }, (_, c) => distance(i, c)),
      assignment[i],
    ),
  );
  // An emptied cluster takes the task farthest from its own centre.
  for (let c = 0; c < k; c++) {
    if (next.includes(c)) continue;
    const sizes = Array.from({ length: k }, (_, x) => next.filter((y) => y === x).length);
    const farthest = argmax(
      Array.from({ length: n }, (_, i) => (sizes[next[i]] > 1 ? distance(i, next[i]) : -Infinity)),
    );
    next[farthest] = c;
  }
  return next;
}

/** Index of the smallest value; ties go to `prefer` when it is among them, else the first. */
export function argmin(values: readonly number[], prefer = -1): number {
  let best = 0;
  for (let i = 1; i < values.length; i++) if (values[i] < values[best]) best = i;
  return prefer >= 0 && values[prefer] === values[best] ? prefer : best;
}

function argmax(values: readonly number[]): number {
  return argmin(values.map((v) => -v));
}

function checkSimilarity(similarity: Float64Array, n: number): void {
  if (similarity.length !== n * n)
    throw new RangeError(`similarity must be ${n} x ${n}, got ${similarity.length} entries`);
}
