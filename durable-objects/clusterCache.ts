/**
 * The Catalogue's memory of work already done for clustering runs: which merged adapter a
 * cluster (member adapters + merge settings) produced, and each task's few-shot loss under it.
 * Keys are content digests, so a changed adapter or example set simply misses.
 */
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

export function createClusterCache(sql: SqlStorage): void {
  sql.exec(`
    CREATE TABLE IF NOT EXISTS merges (cluster_key TEXT PRIMARY KEY, sha256 TEXT NOT NULL, bytes INTEGER NOT NULL, rank INTEGER NOT NULL);
    CREATE TABLE IF NOT EXISTS losses (loss_key TEXT PRIMARY KEY, loss REAL NOT NULL, tokens INTEGER NOT NULL);`);
  // Few-shot exact match, which restarts are kept by (src/tuning/restarts.ts); caches from before it lack it.
  const columns = sql.exec<{ name: string }>("PRAGMA table_info(losses)").toArray().map((c) => c.name);
  if (!columns.includes("exact_match")) sql.exec("ALTER TABLE losses ADD COLUMN exact_match REAL");
}

export function cachedMerges(sql: SqlStorage, keys: readonly string[]): Record<string, CachedMerge> {
  const found: Record<string, CachedMerge> = {};
  for (const key of keys) {
    const row = sql.exec<{ sha256: string; bytes: number; rank: number }>("SELECT sha256, bytes, rank FROM merges WHERE cluster_key = ?", key).toArray()[0];
    if (row) found[key] = { sha256: row.sha256, bytes: row.bytes, rank: row.rank };
  }
  return found;
}

export function recordMerge(sql: SqlStorage, key: string, merge: CachedMerge): void {
  sql.exec("INSERT OR REPLACE INTO merges VALUES (?, ?, ?, ?)", key, merge.sha256, merge.bytes, merge.rank);
}

export function cachedLosses(sql: SqlStorage, keys: readonly string[]): Record<string, CachedLoss> {
  const found: Record<string, CachedLoss> = {};
  for (const key of keys) {
    const row = sql.exec<{ loss: number; tokens: number; exact_match: number | null }>("SELECT loss, tokens, exact_match FROM losses WHERE loss_key = ?", key).toArray()[0];
    if (row) found[key] = { loss: row.loss, tokens: row.tokens, exactMatch: row.exact_match };
  }
  return found;
}

export function recordLosses(sql: SqlStorage, entries: readonly (CachedLoss & { key: string })[]): void {
  for (const e of entries) sql.exec("INSERT OR REPLACE INTO losses (loss_key, loss, tokens, exact_match) VALUES (?, ?, ?, ?)", e.key, e.loss, e.tokens, e.exactMatch);
}
