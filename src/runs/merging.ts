/**
 * Builds a cluster's merged adapter and stores it in R2 (content-addressed) before anything
 * refers to it: a run records the digest only after the blob exists.
 */
import { mergeAdapters, toPeft } from "../adapters/merge";
import type { LoraTarget } from "../adapters/factors";
import { readAdapter } from "../storage/adapters";
import { mergedKey } from "../storage/keys";
import { sha256Hex } from "../storage/sha256";
import type { CachedMerge } from "../../durable-objects/clusterCache";
import type { MergeSettings, RunTask } from "./config";

export async function buildMergedAdapter(
  bucket: R2Bucket,
  targets: readonly LoraTarget[],
  members: readonly RunTask[],
  merge: MergeSettings,
): Promise<CachedMerge> {
  const adapters = await Promise.all(members.map((t) => readAdapter(bucket, t.id, targets, t.adapterSha256)));
  const merged = mergeAdapters(adapters, targets, { ...merge, weights: members.map(() => 1 / members.length) });
  const peft = toPeft(merged, targets);
  const sha256 = await sha256Hex(peft.safetensors);
  // Blobs are immutable: an existing one is the same bytes.
  if (!(await bucket.head(mergedKey(sha256, "adapter_model.safetensors")))) {
    await bucket.put(mergedKey(sha256, "adapter_config.json"), JSON.stringify(peft.config));
    await bucket.put(mergedKey(sha256, "adapter_model.safetensors"), peft.safetensors, { sha256 });
  }
  return { sha256, bytes: peft.safetensors.byteLength, rank: peft.config.r };
}
