/**
 * An "alloc" run's candidates (issue 21): each task's own adapter as one private part
 * configuration, built in the run's merge phase. The part's file is encoded, read back and
 * materialised exactly as the device's client does, and the plain LoRA stored as a merged adapter
 * (content-addressed, so the evaluation units read it as any merge) with the part file beside it;
 * what ships is that file, so the adapter a device materialises is byte for byte the one the run
 * measured. The base model is the candidate of no part: NO_ADAPTER, 0 bytes.
 */
import { toPeft } from "../adapters/merge";
import type { LoraTarget } from "../adapters/factors";
import { decodePart, encodePart } from "../adapters/parts/partFile";
import { materialise, privatePart } from "../adapters/parts/privatePart";
import { partConfigName, type PartConfig } from "../budget/candidates";
import { readMemberAdapters } from "./merging";
import { mergedKey } from "../storage/keys";
import { sha256Hex } from "../storage/sha256";
import type { CachedMerge } from "./cached";
import type { RunTask } from "./config";
import { NO_ADAPTER } from "./evaluationUnit";

/**
 * The cluster key of a task's part (with the task's examples, its loss-cache key): the model,
 * the configuration and the task's adapter; the base model alone is `none` for the model.
 */
export const partKey = (modelId: string, config: PartConfig | null, task: Pick<RunTask, "adapterSha256">) =>
  config ? `part:${modelId}:${partConfigName(config)}:${task.adapterSha256}` : `${NO_ADAPTER}:${modelId}`;

/** Per task, its candidate under `config` (null: the base model), stored in R2 before the run refers to it. */
export async function buildPartAdapters(
  bucket: R2Bucket,
  targets: readonly LoraTarget[],
  tasks: readonly RunTask[],
  config: PartConfig | null,
): Promise<CachedMerge[]> {
  if (!config) return tasks.map(() => ({ sha256: NO_ADAPTER, bytes: 0, rank: 0 }));
  const adapters = await readMemberAdapters(bucket, targets, tasks);
  const built: CachedMerge[] = [];
  for (const [t, task] of tasks.entries()) {
    // A configuration above the task's own rank is its own adapter at that dtype.
    const rank = Math.min(config.rank, adapters[t].get(targets[0].module)!.rank);
    const file = encodePart(privatePart(task.id, adapters[t], targets, rank, config.dtype), targets);
    const peft = toPeft(materialise(decodePart(file, targets), targets), targets);
    const sha256 = await sha256Hex(peft.safetensors);
    if (!(await bucket.head(mergedKey(sha256, "part.d2c")))) {
      await bucket.put(mergedKey(sha256, "adapter_config.json"), JSON.stringify(peft.config));
      await bucket.put(mergedKey(sha256, "adapter_model.safetensors"), peft.safetensors, { sha256 });
      // Last: its presence says the other two are there.
      await bucket.put(mergedKey(sha256, "part.d2c"), file);
    }
    built.push({ sha256, bytes: file.byteLength, rank });
  }
  return built;
}

/** The part file a candidate was materialised from (what a parts release ships). */
export async function readPartFile(bucket: R2Bucket, sha256: string): Promise<Uint8Array> {
  const object = await bucket.get(mergedKey(sha256, "part.d2c"));
  if (!object) throw new Error(`the part of adapter ${sha256} is missing in R2`);
  return new Uint8Array(await object.arrayBuffer());
}
