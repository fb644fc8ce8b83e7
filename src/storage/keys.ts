/** R2 key layout, the same as r2-fixtures/ (see its README). */
export type Split = "fewshot" | "test";

export const modelKey = (modelId: string, file: string) => `models/${modelId}/${file}`;
export const adapterKey = (taskId: string, file: "adapter_config.json" | "adapter_model.safetensors") =>
  `adapters/${taskId}/${file}`;
export const examplesKey = (taskId: string, split: Split) => `examples/${taskId}/${split}.jsonl`;
/**
 * Merged adapters are content-addressed by the sha256 of their safetensors bytes. An adapter
 * materialised from a part (issue 21) keeps the part's file beside it as `part.d2c`: what a
 * release ships, and the bytes the adapter was materialised from.
 */
export const mergedKey = (sha256: string, file: "adapter_config.json" | "adapter_model.safetensors" | "part.d2c") =>
  `merged/${sha256}/${file}`;
/** Release blobs (any format), content-addressed by their own sha256: what devices download. */
export const blobKey = (sha256: string) => `blobs/${sha256}`;
