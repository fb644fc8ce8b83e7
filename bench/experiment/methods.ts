/**
 * The clusterings compared, from the same pure code the ClusterRun Durable Object runs:
 * random, K-means on task vectors, and D2C (k-means start, loss-driven reassignment, best J),
 * pruned (`d2c`, the default: each task under its own cluster and its m most promising others,
 * a full sweep before a fixed point) or on the full schedule (`d2c-full`); `d2c-restarts` runs
 * pruned D2C from several seeded k-means starts and keeps the lowest few-shot J (issue 15).
 */
import { clustersOf, type Assignment } from "../../src/clustering/assignment.ts";
import { kmeans } from "../../src/clustering/kmeans.ts";
import { DEFAULT_PRUNE, runD2C, type D2CIteration, type PruneSettings } from "../../src/clustering/pruned.ts";
import { randomAssignment } from "../../src/clustering/random.ts";
import { keptRestart, restartSeeds, type RestartCriterion } from "../../src/tuning/restarts.ts";
import { Scorer, type Meter } from "./scorer.ts";

export type Method = "random" | "kmeans" | "d2c" | "d2c-full" | "d2c-restarts";

export interface Clustering {
  readonly assignment: Assignment;
  readonly iterations: readonly D2CIteration[];
  readonly fixedPoint?: boolean;
  /** d2c-restarts: best J of each start, in restartSeeds order, and the index kept. */
  readonly restarts?: {
    readonly objectives: readonly number[]; readonly fewShotExactMatch: readonly number[]; readonly kept: number; readonly assignments: readonly Assignment[];
  };
}

export interface D2COptions {
  readonly prune?: PruneSettings;
  readonly ranking?: "loss" | "similarity" | "stale";
  /** D2C's starting assignment; default k-means on the task vectors (a device's subset starts from its profile's clusters). */
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

/** Starts of d2c-restarts unless told otherwise: 2 and 4 both paid at K = 5, 4 more at K = 10, 8 no more than 4 (docs/tuning.md). */
export const DEFAULT_RESTARTS = 4;
/** Lowest J lost 5.3 points at K = 3; few-shot exact match gained 1.0-3.0 at K = 3, 5, 10, 20 (docs/tuning.md). */
export const DEFAULT_RESTART_CRITERION: RestartCriterion = "exactMatch";

export async function cluster(
  method: Method, scorer: Scorer, similarity: Float64Array, n: number, k: number, seed: number, maxIterations: number, options: D2COptions = {},
): Promise<Clustering> {
  if (method === "random") return { assignment: randomAssignment(n, k, seed), iterations: [] };
  if (method === "kmeans") return { assignment: kmeans(similarity, n, k, seed), iterations: [] };
  if (method === "d2c-restarts") {
    const runs: Clustering[] = [];
    for (const s of restartSeeds(seed, options.restarts ?? DEFAULT_RESTARTS)) runs.push(await cluster("d2c", scorer, similarity, n, k, s, maxIterations, options));
    const objectives = runs.map((r) => Math.min(...r.iterations.map((x) => x.objective)));
    const fewShotExactMatch: number[] = [];
    for (const r of runs) fewShotExactMatch.push((await scoreAssignment(scorer, r.assignment, undefined, "fewshot", options.meter)).meanExactMatch);
    const kept = keptRestart(runs.map((_, i) => ({ objective: objectives[i], fewShotExactMatch: fewShotExactMatch[i] })), options.restartCriterion ?? DEFAULT_RESTART_CRITERION);
    return { ...runs[kept], restarts: { objectives, fewShotExactMatch, kept, assignments: runs.map((r) => r.assignment) } };
  }
  const start = options.start ?? kmeans(similarity, n, k, seed);
  const worldTask = (i: number) => options.tasks?.[i] ?? i;
  return runD2C({
    n, k, start, similarity, maxIterations, ranking: options.ranking,
    prune: method === "d2c" ? (options.prune ?? DEFAULT_PRUNE) : null,
    // The scorer counts a forward pass only where it runs one: a (cluster, task) pair scored twice is one pass.
    evaluate: async (members, t) => (await scorer.score(Scorer.cluster(members.map(worldTask)), worldTask(t), "fewshot", options.meter)).loss,
  });
}

/** Mean exact match (held-out, or few-shot for choosing among restarts) and mean few-shot loss of the tasks under their clusters. */
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
    exact += (await scorer.score(clusters[assignment[t]], t, exactSplit, exactSplit === "fewshot" ? meter : undefined)).exactMatch;
    loss += (await scorer.score(clusters[assignment[t]], t, "fewshot", meter)).loss;
  }
  return { meanExactMatch: exact / assignment.length, meanFewShotLoss: loss / assignment.length };
}
