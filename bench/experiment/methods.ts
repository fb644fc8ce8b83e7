/**
 * The clusterings compared, from the same pure code the ClusterRun Durable Object runs:
 * random, K-means on task vectors, and D2C (k-means start, loss-driven reassignment, best J),
 * pruned (`d2c`, the default: each task under its own cluster and its m most promising others,
 * a full sweep before a fixed point) or on the full schedule (`d2c-full`); `d2c-restarts` runs
 * pruned D2C from several seeded k-means starts and keeps the lowest few-shot J (issue 15).
 */
import { clustersOf, type Assignment } from "../../src/clustering/assignment.ts";
import { kmeans } from "../../src/clustering/kmeans.ts";
import { keptIteration } from "../../src/clustering/policy.ts";
import { DEFAULT_PRUNE, type PruneSettings } from "../../src/clustering/pruned.ts";
import { randomAssignment } from "../../src/clustering/random.ts";
import { runD2C, type D2CIteration } from "../../src/clustering/runD2C.ts";
import type { RestartCriterion } from "../../src/tuning/restarts.ts";
import { Scorer, type Meter } from "./scorer.ts";

export type Method = "random" | "kmeans" | "d2c" | "d2c-full" | "d2c-restarts";

export interface Clustering {
  readonly assignment: Assignment;
  readonly iterations: readonly D2CIteration[];
  readonly fixedPoint?: boolean;
  /** d2c-restarts: best J of each start, in restartSeeds order, and the index kept. */
  readonly restarts?: {
    readonly objectives: readonly number[];
    readonly fewShotExactMatch: readonly number[];
    readonly kept: number;
    readonly assignments: readonly Assignment[];
  };
}

export interface D2COptions {
  readonly prune?: PruneSettings;
  readonly ranking?: "loss" | "similarity" | "stale";
  /**
   * D2C's starting assignment; default k-means on the task vectors (a device's subset starts from its profile's
   * clusters).
   */
  readonly start?: Assignment;
  /** World task index of each of the run's n tasks (the Scorer's indices); default 0..n-1, the whole world. */
  readonly tasks?: readonly number[];
  /** Counts the run's forward passes as from an empty cache. */
  readonly meter?: Meter;
  /** d2c-restarts: seeded starts (the first is `seed`, so 1 is plain pruned D2C). */
  readonly restarts?: number;
  /** d2c-restarts: how the kept start is chosen (few-shot figures only). */
  readonly restartCriterion?: RestartCriterion;
}

/**
 * Starts of d2c-restarts unless told otherwise: 2 and 4 both paid at K = 5, 4 more at K = 10, 8 no more than 4
 * (docs/tuning.md).
 */
export const DEFAULT_RESTARTS = 4;
/** Lowest J lost 5.3 points at K = 3; few-shot exact match gained 1.0-3.0 at K = 3, 5, 10, 20 (docs/tuning.md). */
export const DEFAULT_RESTART_CRITERION: RestartCriterion = "exactMatch";

export async function cluster(
  method: Method,
  scorer: Scorer,
  similarity: Float64Array,
  n: number,
  k: number,
  seed: number,
  maxIterations: number,
  options: D2COptions = {},
): Promise<Clustering> {
  if (method === "random") return { assignment: randomAssignment(n, k, seed), iterations: [] };
  if (method === "kmeans") return { assignment: kmeans(similarity, n, k, seed), iterations: [] };
  const restarts = method === "d2c-restarts" ? (options.restarts ?? DEFAULT_RESTARTS) : 1;
  const start = options.start ?? kmeans(similarity, n, k, seed);
  const worldTask = (i: number) => options.tasks?.[i] ?? i;
  const run = await runD2C({
    n,
    k,
    start,
    similarity,
    maxIterations,
    ranking: options.ranking,
    restarts,
    seed,
    prune: method === "d2c-full" ? null : (options.prune ?? DEFAULT_PRUNE),
    // The scorer counts a forward pass only where it runs one: a (cluster, task) pair scored twice is one pass.
    evaluate: async (members, t) =>
      (await scorer.score(Scorer.cluster(members.map(worldTask)), worldTask(t), "fewshot", options.meter)).loss,
  });
  if (restarts === 1) return run;
  // The kept start is the policy's choice, by few-shot exact match of each start's best clustering (as the Worker).
  const assignments = run.bests.map((i) => run.iterations[i].assignment);
  const fewShotExactMatch: number[] = [];
  for (const a of assignments) {
    fewShotExactMatch.push((await scoreAssignment(scorer, a, undefined, "fewshot", options.meter)).meanExactMatch);
  }
  const criterion = options.restartCriterion ?? DEFAULT_RESTART_CRITERION;
  const keptAt = keptIteration(run.iterations, criterion, (i) => fewShotExactMatch[run.bests.indexOf(i)]);
  const kept = run.iterations[keptAt].restart;
  return {
    assignment: run.iterations[keptAt].assignment,
    iterations: run.iterations.filter((i) => i.restart === kept),
    fixedPoint: run.fixedPoints[kept],
    restarts: { objectives: run.bests.map((i) => run.iterations[i].objective), fewShotExactMatch, kept, assignments },
  };
}

/**
 * Mean exact match (held-out, or few-shot for choosing among restarts) and mean few-shot loss of the tasks under their
 * clusters.
 */
export async function scoreAssignment(
  scorer: Scorer,
  assignment: Assignment,
  clusters: readonly string[] = clustersOf(assignment).map(Scorer.cluster),
  exactSplit: "test" | "fewshot" = "test",
  meter?: Meter,
): Promise<{ meanExactMatch: number; meanFewShotLoss: number }> {
  let exact = 0;
  let loss = 0;
  for (let t = 0; t < assignment.length; t++) {
    exact += (await scorer.score(clusters[assignment[t]], t, exactSplit, exactSplit === "fewshot" ? meter : undefined))
      .exactMatch;
    loss += (await scorer.score(clusters[assignment[t]], t, "fewshot", meter)).loss;
  }
  return { meanExactMatch: exact / assignment.length, meanFewShotLoss: loss / assignment.length };
}
