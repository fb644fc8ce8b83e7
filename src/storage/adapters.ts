import { parsePeftConfig, peftToFactors } from "../adapters/peft";
import type { AdapterFactors, LoraTarget } from "../adapters/factors";
import { parseExamples, type Example } from "./examples";
import { adapterKey, examplesKey, mergedKey, type Split } from "./keys";
import { sha256Hex } from "./sha256";

/**
 * A stored task adapter as model inputs (it was validated on upload). With `expectedSha256`, an
 * adapter replaced since (a run pinned its digest when it started) is an error, not a silent mix.
 */
export async function readAdapter(
  bucket: R2Bucket,
  taskId: string,
  targets: readonly LoraTarget[],
  expectedSha256?: string,
): Promise<AdapterFactors> {
  return readPeft(
    bucket,
    adapterKey(taskId, "adapter_config.json"),
    adapterKey(taskId, "adapter_model.safetensors"),
    targets,
    expectedSha256,
  );
}

/** Merged adapters are immutable, so an isolate keeps the last few it evaluated. */
const mergedCache = new Map<string, Promise<AdapterFactors>>();
const MERGED_CACHE_ENTRIES = 32;

export function readMergedAdapter(
  bucket: R2Bucket,
  sha256: string,
  targets: readonly LoraTarget[],
): Promise<AdapterFactors> {
  let adapter = mergedCache.get(sha256);
  if (!adapter) {
    adapter = readPeft(
      bucket,
      mergedKey(sha256, "adapter_config.json"),
      mergedKey(sha256, "adapter_model.safetensors"),
      targets,
      sha256,
    );
    adapter.catch(() => mergedCache.delete(sha256));
    mergedCache.set(sha256, adapter);
    if (mergedCache.size > MERGED_CACHE_ENTRIES) mergedCache.delete(mergedCache.keys().next().value!);
  }
  return adapter;
}

async function readPeft(
  bucket: R2Bucket,
  configKey: string,
  weightsKey: string,
  targets: readonly LoraTarget[],
  expectedSha256?: string,
): Promise<AdapterFactors> {
  const [config, weights] = await Promise.all([bucket.get(configKey), bucket.get(weightsKey)]);
  if (!config || !weights) throw new Error(`${weightsKey} or its config is missing in R2`);
  const bytes = new Uint8Array(await weights.arrayBuffer());
  if (expectedSha256 !== undefined && (await sha256Hex(bytes)) !== expectedSha256) {
    throw new Error(`${weightsKey} changed: its sha256 is no longer ${expectedSha256}`);
  }
  return peftToFactors(parsePeftConfig(await config.json()), bytes, targets);
}

export async function readExamples(bucket: R2Bucket, taskId: string, split: Split): Promise<Example[] | null> {
  const object = await bucket.get(examplesKey(taskId, split));
  return object ? parseExamples(await object.text()) : null;
}
