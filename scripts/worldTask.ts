/**
 * One synthetic task of the scale world, derived from a trained source task: its adapter is the
 * source's delta W moved a little toward a sibling's (same application or same language) plus a
 * small random low-rank perturbation, re-factored to rank 8 by the repo's svd merge; its examples
 * are a fresh disjoint split of the source's example pool. Pure: everything comes from `random`.
 */
import { deltaNorm, type AdapterFactors, type LoraFactors, type LoraTarget } from "../src/adapters/factors.ts";
import { mergeAdapters } from "../src/adapters/merge/index.ts";
import type { Random } from "../src/prng.ts";

export interface SourceTask {
  readonly id: string;
  readonly application: string;
  readonly language: string;
  readonly adapter: AdapterFactors;
  /** ||B A||_F per module, the scale of the perturbation. */
  readonly deltaNorms: ReadonlyMap<string, number>;
  /** The source's few-shot and held-out JSONL lines together, distinct, in file order. */
  readonly pool: readonly string[];
}

export interface DerivationOptions {
  /** The sibling's weight w is uniform in [0, mixMax]; the source keeps 1 - w. */
  readonly mixMax: number;
  /** The perturbation's ||B A||_F per module, as a fraction of the source's. */
  readonly noise: number;
  /** The perturbation's rank. */
  readonly noiseRank: number;
  /** Rank of the written adapter (the reference world's is 8). */
  readonly rank: number;
  readonly fewshot: number;
  readonly test: number;
}

export interface DerivedTask {
  readonly sibling: string;
  readonly siblingKind: "application" | "language";
  readonly mix: number;
  readonly adapter: AdapterFactors;
  readonly fewshot: readonly string[];
  readonly test: readonly string[];
}

/** The source's siblings: same application (other languages) and same language (other applications). */
export function siblingsOf(source: SourceTask, all: readonly SourceTask[]) {
  return {
    application: all.filter((t) => t.application === source.application && t.id !== source.id),
    language: all.filter((t) => t.language === source.language && t.id !== source.id),
  };
}

/** Draw order (fixed, so a seed pins the bytes): sibling kind, sibling, w, perturbation per target, example shuffle. */
export function deriveTask(
  source: SourceTask,
  all: readonly SourceTask[],
  targets: readonly LoraTarget[],
  options: DerivationOptions,
  random: Random,
): DerivedTask {
  const siblings = siblingsOf(source, all);
  const siblingKind = random() < 0.5 ? "application" : "language";
  const candidates = siblings[siblingKind];
  if (candidates.length === 0) throw new RangeError(`${source.id} has no sibling of the same ${siblingKind}`);
  const sibling = candidates[Math.floor(random() * candidates.length)];
  const mix = random() * options.mixMax;
  const perturbation = new Map<string, LoraFactors>();
  for (const target of targets) {
    perturbation.set(
      target.module,
      randomFactors(target, options.noiseRank, options.noise * source.deltaNorms.get(target.module)!, random),
    );
  }
  const adapter = mergeAdapters([source.adapter, sibling.adapter, perturbation], targets, {
    method: "svd",
    rank: options.rank,
    weights: [1 - mix, mix, 1],
  });
  const pool = shuffled(source.pool, random);
  const needed = options.fewshot + options.test;
  if (pool.length < needed)
    throw new RangeError(
      `${source.id}: ${pool.length} distinct examples, ${needed} needed (fewshot ${options.fewshot} + test ` +
        `${options.test})`,
    );
  return {
    sibling: sibling.id,
    siblingKind,
    mix,
    adapter,
    fewshot: pool.slice(0, options.fewshot),
    test: pool.slice(options.fewshot, needed),
  };
}

/** Gaussian factors of `rank` whose B A has Frobenius norm `norm`. */
function randomFactors(target: LoraTarget, rank: number, norm: number, random: Random): LoraFactors {
  const a = Float32Array.from({ length: rank * target.in }, () => gaussian(random));
  const b = Float32Array.from({ length: target.out * rank }, () => gaussian(random));
  const current = deltaNorm({ rank, a, b });
  for (let i = 0; i < b.length; i++) b[i] *= norm / current;
  return { rank, a, b };
}

/** Box-Muller; 1 - u keeps the logarithm's argument in (0, 1]. */
function gaussian(random: Random): number {
  return Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
}

/** Fisher-Yates on a copy. */
function shuffled<T>(items: readonly T[], random: Random): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}

/** A stream seed per (world seed, task index): murmur3's finaliser, so neighbouring tasks get unrelated streams. */
export function taskSeed(seed: number, index: number): number {
  let h = Math.imul(seed ^ 0x5bd1e995, 0x9e3779b1) ^ Math.imul(index + 1, 0x85ebca6b);
  h ^= h >>> 16;
  h = Math.imul(h, 0x7feb352d);
  h ^= h >>> 15;
  h = Math.imul(h, 0x846ca68b);
  h ^= h >>> 16;
  return h >>> 0;
}
