/**
 * Cache keys of clustering work. A cluster is named by its members' adapter digests and the
 * merge settings, a loss by that cluster, the task and the digest of its few-shot examples: an
 * unchanged cluster is never merged or evaluated twice, in one run or across runs, and any
 * change to an adapter or an example set is a different key.
 */
import { MERGE_PARAMETER_NAMES } from "../adapters/merge/registry";
import { sha256Hex } from "../storage/sha256";
import type { MergeSettings, RunTask } from "./config";

export function clusterKey(modelId: string, members: readonly RunTask[], merge: MergeSettings): Promise<string> {
  const adapters = members.map((t) => `${t.id}@${t.adapterSha256}`).sort();
  // Every parameter in the registry's order, null where unset: the same strings as before the registry.
  const parameters = MERGE_PARAMETER_NAMES.map((p) => [p, merge[p] ?? null]);
  const settings = { method: merge.method, ...Object.fromEntries(parameters) };
  return sha256Hex(JSON.stringify({ modelId, adapters, merge: settings }));
}

export function lossKey(clusterKey: string, task: RunTask): Promise<string> {
  return sha256Hex(`${clusterKey}|${task.id}|${task.fewshotSha256}`);
}
