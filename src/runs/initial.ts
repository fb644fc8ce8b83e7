/**
 * A run's first assignment: warm start, merge-all, own, random, or k-means on the task vectors (D2C and the K-means
 * baseline).
 */
import type { LoraTarget } from "../adapters/factors";
import { mergeAll } from "../clustering/assignment";
import { kmeans } from "../clustering/kmeans";
import { randomAssignment } from "../clustering/random";
import { taskSimilarity } from "../clustering/taskVectors";
import type { RunConfig } from "./config";
import { readMemberAdapters } from "./merging";

export interface InitialAssignment {
  readonly assignment: number[];
  /** The task vectors' cosine similarities (n x n) where the start computed them (k-means). */
  readonly similarity: Float64Array | null;
}

/** Whether the run starts from k-means on the task vectors (D2C and the K-means baseline, no warm start). */
export function startsFromKMeans(config: RunConfig): boolean {
  return !config.initialAssignment && (config.method === "d2c" || config.method === "kmeans");
}

export async function initialAssignment(bucket: R2Bucket, config: RunConfig): Promise<InitialAssignment> {
  const n = config.tasks.length;
  if (config.initialAssignment) return { assignment: [...config.initialAssignment], similarity: null };
  if (config.method === "merge-all") return { assignment: mergeAll(n), similarity: null };
  if (config.method === "own") return { assignment: config.tasks.map((_, t) => t), similarity: null };
  if (config.method === "random") return { assignment: randomAssignment(n, config.k, config.seed), similarity: null };
  const loraTargets = config.loraTargets;
  // An adapter the reader refuses fails here naming its task, as at the merge.
  const adapters = await readMemberAdapters(bucket, loraTargets, config.tasks);
  const similarity = taskSimilarity(adapters, loraTargets);
  return { assignment: kmeans(similarity, n, config.k, config.seed), similarity };
}
