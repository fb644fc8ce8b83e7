import { parsePeftConfig, peftToFactors, type AdapterFactors, type LoraTarget } from "../adapters/peft";
import { parseExamples, type Example } from "../inference/contract";
import { adapterKey, examplesKey, type Split } from "./keys";

/** A stored task adapter as model inputs (it was validated on upload). */
export async function readAdapter(bucket: R2Bucket, taskId: string, targets: readonly LoraTarget[]): Promise<AdapterFactors> {
  const [config, weights] = await Promise.all([
    bucket.get(adapterKey(taskId, "adapter_config.json")),
    bucket.get(adapterKey(taskId, "adapter_model.safetensors")),
  ]);
  if (!config || !weights) throw new Error(`adapter of ${taskId} is missing in R2`);
  return peftToFactors(parsePeftConfig(await config.json()), new Uint8Array(await weights.arrayBuffer()), targets);
}

export async function readExamples(bucket: R2Bucket, taskId: string, split: Split): Promise<Example[] | null> {
  const object = await bucket.get(examplesKey(taskId, split));
  return object ? parseExamples(await object.text()) : null;
}
