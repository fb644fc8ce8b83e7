/**
 * The blocks of a large run's task-vector Gram matrix (src/runs/similarityBlocks.ts), one queue
 * message each, stored as each reports; the run's alarm re-sends silent blocks, as it does for
 * units. Claims work as the units' do: one computation per send, duplicates dropped.
 */
import type { RunConfig } from "../src/runs/config";
import { sendMessages } from "../src/runs/queueBatches";
import { assembleSimilarity, similarityBlocks, similarityMessage, type SimilarityBlock } from "../src/runs/similarityBlocks";

interface BlockRow extends Record<string, SqlStorageValue> {
  id: string;
  dots: ArrayBuffer | null;
  multiply_adds: number | null;
  attempts: number;
  sent_at: number;
  claimed_at: number | null;
  error: string | null;
}

export class SimilarityBlocks {
  constructor(private readonly sql: SqlStorage, private readonly queue: Queue) {
    sql.exec(`CREATE TABLE IF NOT EXISTS similarity_blocks (
      id TEXT PRIMARY KEY, dots BLOB, multiply_adds REAL, attempts INTEGER NOT NULL, sent_at INTEGER NOT NULL, claimed_at INTEGER, error TEXT);`);
  }

  /** Creates the run's blocks (none when its tasks fit one) and sends them; returns how many. */
  async start(config: RunConfig): Promise<number> {
    const blocks = similarityBlocks(config.tasks.length);
    for (const b of blocks) this.sql.exec("INSERT OR IGNORE INTO similarity_blocks (id, attempts, sent_at) VALUES (?, 0, 0)", b.id);
    await this.send(config, blocks);
    return blocks.length;
  }

  claim(id: string): boolean {
    return this.sql.exec("UPDATE similarity_blocks SET claimed_at = ? WHERE id = ? AND dots IS NULL AND claimed_at IS NULL", Date.now(), id).rowsWritten > 0;
  }

  /** Stores a block's inner products; true when it was the last one missing. */
  record(id: string, dots: Float64Array, multiplyAdds: number): boolean {
    const written = this.sql.exec("UPDATE similarity_blocks SET dots = ?, multiply_adds = ?, error = NULL WHERE id = ? AND dots IS NULL", dots.slice().buffer, multiplyAdds, id).rowsWritten;
    return written > 0 && this.pending() === 0;
  }

  /** The consumer failed this attempt: the queue retries it, so the claim is released. */
  release(id: string, reason: string): void {
    this.sql.exec("UPDATE similarity_blocks SET claimed_at = NULL, error = ? WHERE id = ? AND dots IS NULL", reason.slice(0, 500), id);
  }

  lastError(id: string): string | null {
    return this.sql.exec<{ error: string | null }>("SELECT error FROM similarity_blocks WHERE id = ?", id).toArray()[0]?.error ?? null;
  }

  pending(): number {
    return this.sql.exec<{ n: number }>("SELECT count(*) AS n FROM similarity_blocks WHERE dots IS NULL").one().n;
  }

  isPending(id: string): boolean {
    return this.sql.exec("SELECT 1 FROM similarity_blocks WHERE id = ? AND dots IS NULL", id).toArray().length > 0;
  }

  /** What the blocks cost: messages sent and multiply-adds computed (counted by the consumers). */
  usage(): { blocks: number; multiplyAdds: number } {
    return this.sql.exec<{ blocks: number; multiplyAdds: number }>(
      "SELECT count(*) AS blocks, coalesce(sum(multiply_adds), 0) AS multiplyAdds FROM similarity_blocks").one();
  }

  /** The cosine matrix, once every block reported. */
  similarity(config: RunConfig): Float64Array {
    const stored = new Map(this.sql.exec<BlockRow>("SELECT * FROM similarity_blocks").toArray().map((r) => [r.id, r.dots]));
    return assembleSimilarity(config.tasks.length, similarityBlocks(config.tasks.length), (b) => new Float64Array(stored.get(b.id)!));
  }

  /**
   * Watchdog: re-sends blocks not reported `timeoutMs` after their send; returns the id of a block
   * sent `maxSends` times already (the run fails naming it), else null.
   */
  async resendOverdue(config: RunConfig, timeoutMs: number, maxSends: number): Promise<string | null> {
    const overdue = this.sql.exec<BlockRow>("SELECT * FROM similarity_blocks WHERE dots IS NULL AND sent_at <= ?", Date.now() - timeoutMs).toArray();
    const exhausted = overdue.find((b) => b.attempts >= maxSends);
    if (exhausted) return exhausted.id;
    const ids = new Set(overdue.map((b) => b.id));
    await this.send(config, similarityBlocks(config.tasks.length).filter((b) => ids.has(b.id)));
    return null;
  }

  /** Marks the blocks sent (clearing their claims) before the messages go, so no delivery can find them unsent. */
  private async send(config: RunConfig, blocks: readonly SimilarityBlock[]): Promise<void> {
    const now = Date.now();
    for (const b of blocks) this.sql.exec("UPDATE similarity_blocks SET attempts = attempts + 1, sent_at = ?, claimed_at = NULL WHERE id = ?", now, b.id);
    await sendMessages(this.queue, blocks.map((b) => similarityMessage(config.runId, config.modelId, config.tasks, b)));
    this.sql.exec("UPDATE run SET messages = coalesce(messages, 0) + ?", blocks.length);
  }
}
