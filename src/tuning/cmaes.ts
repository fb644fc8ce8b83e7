/**
 * CMA-ES (Hansen, "The CMA Evolution Strategy: A Tutorial", 2016; the constants of its
 * purecma.py) with an ask/tell interface whose whole state is a plain JSON object: a Durable
 * Object stores it between Queue rounds, each asked population fans out as evaluation units, and
 * the told fitness values drive the next generation. Deterministic for a seed: each generation
 * draws from seededRandom(seed, generation), so a state restored from JSON asks the same
 * candidates the live one would have. Minimises; the budget counts candidate evaluations.
 */
import { seededRandom, type Random } from "../prng";
import { symmetricEigen } from "./eigen";

export interface CmaesOptions {
  /** Start point (the mean of the first generation); for merge weights, uniform weights. */
  readonly x0: readonly number[];
  /** Initial step size, in the units of x. */
  readonly sigma0: number;
  /** Candidate evaluations at most (the last generation is cut short to fit). */
  readonly budget: number;
  /** An integer in [0, 2^32): the same seed asks the same candidates. */
  readonly seed: number;
  /** Candidates per generation (lambda). Default 4 + floor(3 ln n), Hansen's default. */
  readonly populationSize?: number;
}

export interface CmaesState {
  readonly kind: "cmaes";
  readonly version: 1;
  readonly seed: number;
  readonly budget: number;
  readonly populationSize: number;
  /** Generations completed (told). */
  readonly generation: number;
  /** Candidates told so far. */
  readonly evaluations: number;
  readonly mean: number[];
  readonly sigma: number;
  readonly covariance: number[][];
  /** Evolution paths of C and of sigma. */
  readonly pathC: number[];
  readonly pathSigma: number[];
  /** Candidates asked and not yet told, in ask order; asking again returns them unchanged. */
  readonly pending: number[][];
  /** The lowest fitness told and its candidate. */
  readonly best: { readonly x: number[]; readonly f: number } | null;
}

export function createCmaes(options: CmaesOptions): CmaesState {
  const n = options.x0.length;
  if (n < 1) throw new RangeError("x0 must have at least one coordinate");
  options.x0.forEach((x, i) => {
    if (!Number.isFinite(x)) throw new RangeError(`x0[${i}] is ${x}, not finite`);
  });
  if (!(options.sigma0 > 0 && Number.isFinite(options.sigma0)))
    throw new RangeError(`sigma0 must be positive, got ${options.sigma0}`);
  if (!Number.isInteger(options.budget) || options.budget < 1)
    throw new RangeError(`budget must be a positive integer, got ${options.budget}`);
  if (!Number.isInteger(options.seed) || options.seed < 0 || options.seed >= 2 ** 32)
    throw new RangeError(`seed must be an integer in [0, 2^32), got ${options.seed}`);
  const populationSize = options.populationSize ?? 4 + Math.floor(3 * Math.log(n));
  if (!Number.isInteger(populationSize) || populationSize < 2)
    throw new RangeError(`populationSize must be an integer >= 2, got ${populationSize}`);
  return {
    kind: "cmaes",
    version: 1,
    seed: options.seed,
    budget: options.budget,
    populationSize,
    generation: 0,
    evaluations: 0,
    mean: [...options.x0],
    sigma: options.sigma0,
    covariance: Array.from({ length: n }, (_, i) => Array.from({ length: n }, (_, j) => (i === j ? 1 : 0))),
    pathC: new Array<number>(n).fill(0),
    pathSigma: new Array<number>(n).fill(0),
    pending: [],
    best: null,
  };
}

/** Whether the budget is spent (nothing left to ask). */
export function cmaesFinished(state: CmaesState): boolean {
  return state.evaluations >= state.budget;
}

/**
 * The next population to evaluate (min(lambda, budget left) candidates), recorded in the state
 * as pending. Idempotent: while candidates are pending it returns them again, so a re-sent
 * round evaluates the same points.
 */
export function askCmaes(state: CmaesState): { state: CmaesState; candidates: number[][] } {
  if (state.pending.length > 0) return { state, candidates: state.pending.map((x) => [...x]) };
  const count = Math.min(state.populationSize, state.budget - state.evaluations);
  if (count <= 0) return { state, candidates: [] };
  const n = state.mean.length;
  const { values, vectors } = symmetricEigen(state.covariance);
  const scales = values.map((v) => Math.sqrt(Math.max(v, 0)));
  const normal = gaussian(seededRandom(generationSeed(state.seed, state.generation)));
  const candidates = Array.from({ length: count }, () => {
    const z = Array.from({ length: n }, () => normal());
    return state.mean.map((m, i) => {
      let y = 0;
      for (let j = 0; j < n; j++) y += vectors[i][j] * scales[j] * z[j];
      return m + state.sigma * y;
    });
  });
  return { state: { ...state, pending: candidates }, candidates: candidates.map((x) => [...x]) };
}

/**
 * Fitness of the pending candidates, in ask order (NaN counts as +Infinity). A full population
 * updates mean, step size and covariance; a cut-short last one only updates `best`.
 */
export function tellCmaes(state: CmaesState, fitness: readonly number[]): CmaesState {
  const xs = state.pending;
  if (xs.length === 0) throw new RangeError("tellCmaes: nothing was asked");
  if (fitness.length !== xs.length)
    throw new RangeError(`tellCmaes: ${fitness.length} fitness values for ${xs.length} candidates`);
  const f = fitness.map((v) => (Number.isNaN(v) ? Infinity : v));
  let best = state.best;
  f.forEach((v, i) => {
    if (best === null || v < best.f) best = { x: [...xs[i]], f: v };
  });
  const told = {
    ...state,
    pending: [],
    best,
    evaluations: state.evaluations + xs.length,
    generation: state.generation + 1,
  };
  if (xs.length < state.populationSize) return told;
  return { ...told, ...adapt(state, xs, f) };
}

/** Hansen's update of mean, paths, C and sigma from one full, evaluated population. */
function adapt(
  state: CmaesState,
  xs: readonly number[][],
  f: readonly number[],
): Pick<CmaesState, "mean" | "sigma" | "covariance" | "pathC" | "pathSigma"> {
  const n = state.mean.length;
  const lambda = state.populationSize;
  const mu = Math.floor(lambda / 2);
  const raw = Array.from({ length: mu }, (_, i) => Math.log(mu + 0.5) - Math.log(i + 1));
  const rawSum = raw.reduce((a, b) => a + b, 0);
  const w = raw.map((x) => x / rawSum);
  const mueff = 1 / w.reduce((a, x) => a + x * x, 0);
  const cc = (4 + mueff / n) / (n + 4 + (2 * mueff) / n);
  const cs = (mueff + 2) / (n + mueff + 5);
  const c1 = 2 / ((n + 1.3) ** 2 + mueff);
  const cmu = Math.min(1 - c1, (2 * (mueff - 2 + 1 / mueff)) / ((n + 2) ** 2 + mueff));
  const damps = 2 * (mueff / lambda) + 0.3 + cs;
  const chiN = Math.sqrt(n) * (1 - 1 / (4 * n) + 1 / (21 * n * n));

  // Stable sort by fitness: ties keep ask order, so the update is deterministic.
  const order = f
    .map((v, i) => ({ v, i }))
    .sort((a, b) => a.v - b.v || a.i - b.i)
    .map((o) => o.i);
  const old = state.mean;
  const ys = order.slice(0, mu).map((i) => xs[i].map((x, d) => (x - old[d]) / state.sigma));
  const yw = Array.from({ length: n }, (_, d) => ys.reduce((s, y, i) => s + w[i] * y[d], 0));
  const mean = old.map((m, d) => m + state.sigma * yw[d]);

  // C^{-1/2} yw through the eigendecomposition of the C the population was drawn from.
  const { values, vectors } = symmetricEigen(state.covariance);
  const bty = values.map(
    (_, j) => vectors.reduce((s, row, i) => s + row[j] * yw[i], 0) / Math.sqrt(Math.max(values[j], 1e-300)),
  );
  const invSqrtYw = Array.from({ length: n }, (_, i) => vectors[i].reduce((s, v, j) => s + v * bty[j], 0));
  const pathSigma = state.pathSigma.map((p, d) => (1 - cs) * p + Math.sqrt(cs * (2 - cs) * mueff) * invSqrtYw[d]);
  const psNorm2 = pathSigma.reduce((s, p) => s + p * p, 0);
  const hsig = psNorm2 / (1 - (1 - cs) ** (2 * (state.generation + 1))) / n < 2 + 4 / (n + 1) ? 1 : 0;
  const pathC = state.pathC.map((p, d) => (1 - cc) * p + hsig * Math.sqrt(cc * (2 - cc) * mueff) * yw[d]);
  const c1a = c1 * (1 - (1 - hsig * hsig) * cc * (2 - cc));
  const covariance = state.covariance.map((row, i) =>
    row.map((c, j) => {
      let rankMu = 0;
      for (let k = 0; k < mu; k++) rankMu += w[k] * ys[k][i] * ys[k][j];
      return (1 - c1a - cmu) * c + c1 * pathC[i] * pathC[j] + cmu * rankMu;
    }),
  );
  // Keep C exactly symmetric against rounding, so its eigendecomposition stays real.
  for (let i = 0; i < n; i++) for (let j = 0; j < i; j++) covariance[i][j] = covariance[j][i];
  const sigma = state.sigma * Math.exp(Math.min(1, (cs / damps) * (Math.sqrt(psNorm2) / chiN - 1)));
  return { mean, sigma, covariance, pathC, pathSigma };
}

/** The generation's own stream: a function of (seed, generation) only, so nothing hidden needs storing. */
function generationSeed(seed: number, generation: number): number {
  return (seed + Math.imul(generation + 1, 0x9e3779b9)) >>> 0;
}

/** Standard normal draws by Box-Muller (both values of a pair used). */
function gaussian(random: Random): () => number {
  let spare: number | null = null;
  return () => {
    if (spare !== null) {
      const s = spare;
      spare = null;
      return s;
    }
    const u = 1 - random(); // (0, 1]: log stays finite
    const r = Math.sqrt(-2 * Math.log(u));
    const phi = 2 * Math.PI * random();
    spare = r * Math.sin(phi);
    return r * Math.cos(phi);
  };
}
