/** A task as the catalogue records it: its adapter's and examples' metadata (the blobs live in R2). */
export interface TaskRecord {
  id: string;
  modelId: string;
  application?: string;
  language?: string;
  rank: number;
  /** Size of adapter_model.safetensors. */
  bytes: number;
  adapterSha256: string;
  examples: { fewshot: number; test: number };
  /** sha256 of each split's JSONL (empty before an upload): part of the loss cache key. */
  examplesSha256: { fewshot: string; test: string };
  updatedAt: string;
}

/** What an adapter upload sets; the examples and the time are the catalogue's to keep. */
export type AdapterUpload = Omit<TaskRecord, "id" | "examples" | "examplesSha256" | "updatedAt"> & {
  taskId: string;
  /** sha256 of adapter_config.json as sent: with adapterSha256, what tells an identical upload from a change. */
  configSha256: string;
};
