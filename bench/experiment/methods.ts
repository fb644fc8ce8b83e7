/**
 * The clusterings compared, from the same pure code the ClusterRun Durable Object runs:
 * random, K-means on task vectors, and D2C (k-means start, loss-driven reassignment, best J).
 */
import { clustersOf, sameAssignment, type Assignment } from "../../src/clustering/assignment.ts";
import { bestIteration, objective, reassign, type Iteration } from "../../src/clustering/d2c.ts";
import { kmeans } from "../../src/clustering/kmeans.ts";
import { randomAssignment } from "../../src/clustering/random.ts";
import { Scorer } from "./scorer.ts";

export type Method = "random" | "kmeans" | "d2c";

export interface Clustering {
  readonly assignment: Assignment;
  readonly iterations: readonly Iteration[];
}

export async function cluster(method: Method, scorer: Scorer, similarity: Float64Array, n: number, k: number, seed: number, maxIterations: number): Promise<Clustering> {
  if (method === "random") return { assignment: randomAssignment(n, k, seed), iterations: [] };
  const start = kmeans(similarity, n, k, seed);
  if (method === "kmeans") return { assignment: start, iterations: [] };
  const iterations: Iteration[] = [];
  let assignment: Assignment = start;
  for (let i = 0; i < maxIterations; i++) {
    const clusters = clustersOf(assignment, k).map(Scorer.cluster);
    const losses: number[][] = [];
    for (let t = 0; t < n; t++) {
      const row: number[] = [];
      for (const c of clusters) row.push((await scorer.score(c, t, "fewshot")).loss);
      losses.push(row);
    }
    iterations.push({ assignment, objective: objective(losses, assignment) });
    const next = reassign(losses, assignment);
    if (sameAssignment(next, assignment)) break;
    assignment = next;
  }
  return { assignment: iterations[bestIteration(iterations)].assignment, iterations };
}

/** Mean held-out exact match and mean few-shot loss of the tasks under their clusters. */
export async function scoreAssignment(
  scorer: Scorer,
  assignment: Assignment,
  clusters: readonly string[] = clustersOf(assignment).map(Scorer.cluster),
): Promise<{ meanExactMatch: number; meanFewShotLoss: number }> {
  let exact = 0;
  let loss = 0;
  for (let t = 0; t < assignment.length; t++) {
    exact += (await scorer.score(clusters[assignment[t]], t, "test")).exactMatch;
    loss += (await scorer.score(clusters[assignment[t]], t, "fewshot")).loss;
  }
  return { meanExactMatch: exact / assignment.length, meanFewShotLoss: loss / assignment.length };
}
