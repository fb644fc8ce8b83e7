/** What the cluster cache (durable-objects/ClusterCache.ts) remembers of a merge and of a loss. */
export interface CachedMerge {
  readonly sha256: string;
  readonly bytes: number;
  readonly rank: number;
}

export interface CachedLoss {
  readonly loss: number;
  readonly tokens: number;
  /** Share of the few-shot examples greedy decoding reproduced; null for losses cached before it was kept. */
  readonly exactMatch: number | null;
}
