/** A run's first assignment: warm start, merge-all, random, or k-means on the task vectors (D2C and the K-means baseline). */
import type { LoraTarget } from "../adapters/factors";
import { mergeAll } from "../clustering/assignment";
import { kmeans } from "../clustering/kmeans";
import { randomAssignment } from "../clustering/random";
import { taskSimilarity } from "../clustering/taskVectors";
import type { RunConfig } from "./config";
import { readMemberAdapters } from "./merging";

export async function initialAssignment(bucket: R2Bucket, config: RunConfig, targets: () => Promise<readonly LoraTarget[]>): Promise<number[]> {
  const n = config.tasks.length;
  if (config.initialAssignment) return [...config.initialAssignment];
  if (config.method === "merge-all") return mergeAll(n);
  if (config.method === "random") return randomAssignment(n, config.k, config.seed);
  const loraTargets = await targets();
  // An adapter the reader refuses fails here naming its task, as at the merge.
  const adapters = await readMemberAdapters(bucket, loraTargets, config.tasks);
  return kmeans(taskSimilarity(adapters, loraTargets), n, config.k, config.seed);
}
