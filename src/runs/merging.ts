/**
 * Builds a cluster's merged adapter and stores it in R2 (content-addressed) before anything
 * refers to it: a run records the digest only after the blob exists. A member whose adapter
 * cannot be used, or a merge whose factors are not finite, fails here naming the task(s) to
 * blame: in a merged cluster every member's loss goes non-finite with the merge, so the loss
 * alone would blame healthy tasks.
 */
import { mergeAdaptersInTurns, toPeft } from "../adapters/merge";
import type { AdapterFactors, LoraTarget } from "../adapters/factors";
import { DomainError } from "../errors";
import { readAdapter } from "../storage/adapters";
import { mergedKey } from "../storage/keys";
import { sha256Hex } from "../storage/sha256";
import type { CachedMerge } from "./cached";
import type { MergeSettings, RunTask } from "./config";

/** `weights`: one per member, default uniform (D2C's merge; a tuned merge gives its own). */
export async function buildMergedAdapter(
  bucket: R2Bucket,
  targets: readonly LoraTarget[],
  members: readonly Pick<RunTask, "id" | "adapterSha256">[],
  merge: MergeSettings,
  weights: readonly number[] = members.map(() => 1 / members.length),
): Promise<CachedMerge> {
  const adapters = await readMemberAdapters(bucket, targets, members);
  const merged = await mergeAdaptersInTurns(adapters, targets, { ...merge, weights });
  const bad = nonFiniteModule(merged);
  if (bad) {
    throw new DomainError(
      "unprocessable",
      "non_finite_merge",
      `the ${merge.method} merge of ${members.map((t) => t.id).join(", ")} has non-finite factors in ${bad} ` +
        `although each adapter is within bounds`,
    );
  }
  const peft = toPeft(merged, targets);
  const sha256 = await sha256Hex(peft.safetensors);
  // Blobs are immutable: an existing one is the same bytes.
  if (!(await bucket.head(mergedKey(sha256, "adapter_model.safetensors")))) {
    await bucket.put(mergedKey(sha256, "adapter_config.json"), JSON.stringify(peft.config));
    await bucket.put(mergedKey(sha256, "adapter_model.safetensors"), peft.safetensors, { sha256 });
  }
  return { sha256, bytes: peft.safetensors.byteLength, rank: peft.config.r };
}

/**
 * The tasks' effective (scaled) factors as pinned by the run. The PEFT reader checks each one
 * (finite, within the bounds of src/adapters/peft.ts); a task whose adapter fails is named, with
 * the reader's reason, so the run blames it and none of its healthy cluster mates.
 */
export async function readMemberAdapters(
  bucket: R2Bucket,
  targets: readonly LoraTarget[],
  members: readonly Pick<RunTask, "id" | "adapterSha256">[],
): Promise<AdapterFactors[]> {
  const read = await Promise.allSettled(members.map((t) => readAdapter(bucket, t.id, targets, t.adapterSha256)));
  const unusable = read.flatMap((r, i) =>
    r.status === "rejected" && r.reason instanceof DomainError ? [`task ${members[i].id}: ${r.reason.message}`] : [],
  );
  if (unusable.length)
    throw new DomainError("unprocessable", "unusable_adapter", `unusable adapter of ${unusable.join("; ")}`);
  return read.map((r) => {
    if (r.status === "rejected") throw r.reason; // R2 trouble: the phase is retried
    return r.value;
  });
}

function nonFiniteModule(adapter: AdapterFactors): string | null {
  for (const [module, f] of adapter) {
    if (!f.a.every(Number.isFinite) || !f.b.every(Number.isFinite)) return module;
  }
  return null;
}
