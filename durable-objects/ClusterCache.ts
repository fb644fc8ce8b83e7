/**
 * Work already done for clustering runs, out of the Catalogue and off its path: which merged
 * adapter a cluster (member adapters + merge settings) produced, and each task's few-shot loss
 * under it. Sixteen objects, each holding the keys that start with its hex digit
 * (src/storage/clusterCache.ts), so runs and operators never queue behind one another here.
 *
 * Why no coordination with the catalogue is needed: every key is a digest of what its value is a
 * function of (model, member adapter digests, merge settings; for a loss also the task and its
 * few-shot examples' digest). An entry never changes meaning, a changed adapter or example set is
 * another key, so a read can neither be stale nor wrong, a lost write only costs the work again,
 * and a deleted task's entries are reachable only by a run that pinned the same digests.
 */
import { DurableObject } from "cloudflare:workers";
import type { CachedLoss, CachedMerge } from "../src/runs/cached";
import { migrate, type Migration } from "./migrations";

const MIGRATIONS: readonly Migration[] = [
  (sql) =>
    sql.exec(
      `
    CREATE TABLE merges (cluster_key TEXT PRIMARY KEY, sha256 TEXT NOT NULL, bytes INTEGER NOT NULL, rank INTEGER ` +
        `NOT NULL);
    CREATE TABLE losses (loss_key TEXT PRIMARY KEY, loss REAL NOT NULL, tokens INTEGER NOT NULL, exact_match REAL);`,
    ),
];

export class ClusterCache extends DurableObject<Env> {
  private sql: SqlStorage;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    ctx.blockConcurrencyWhile(async () => void migrate(this.sql, MIGRATIONS));
  }

  cachedMerges(keys: readonly string[]): Record<string, CachedMerge> {
    const found: Record<string, CachedMerge> = {};
    for (const key of keys) {
      const row = this.sql
        .exec<{ sha256: string; bytes: number; rank: number }>(
          "SELECT sha256, bytes, rank FROM merges WHERE cluster_key = ?",
          key,
        )
        .toArray()[0];
      if (row) found[key] = { sha256: row.sha256, bytes: row.bytes, rank: row.rank };
    }
    return found;
  }

  recordMerge(key: string, merge: CachedMerge): void {
    this.sql.exec(
      "INSERT OR REPLACE INTO merges (cluster_key, sha256, bytes, rank) VALUES (?, ?, ?, ?)",
      key,
      merge.sha256,
      merge.bytes,
      merge.rank,
    );
  }

  cachedLosses(keys: readonly string[]): Record<string, CachedLoss> {
    const found: Record<string, CachedLoss> = {};
    for (const key of keys) {
      const row = this.sql
        .exec<{ loss: number; tokens: number; exact_match: number | null }>(
          "SELECT loss, tokens, exact_match FROM losses WHERE loss_key = ?",
          key,
        )
        .toArray()[0];
      if (row) found[key] = { loss: row.loss, tokens: row.tokens, exactMatch: row.exact_match };
    }
    return found;
  }

  recordLosses(entries: readonly (CachedLoss & { key: string })[]): void {
    for (const e of entries) {
      this.sql.exec(
        "INSERT OR REPLACE INTO losses (loss_key, loss, tokens, exact_match) VALUES (?, ?, ?, ?)",
        e.key,
        e.loss,
        e.tokens,
        e.exactMatch,
      );
    }
  }
}
