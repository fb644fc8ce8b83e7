/**
 * The blocks of a large run's task-vector Gram matrix (src/runs/similarityBlocks.ts), one queue
 * message each, stored as each reports; their leases are the run's ledger's (kind "similarity").
 */
import type { RunConfig } from "../src/runs/config";
import { sendMessages } from "../src/runs/queueBatches";
import { assembleSimilarity, similarityBlocks, similarityMessage } from "../src/runs/similarityBlocks";
import type { WorkLedger } from "./workLedger";

export class SimilarityBlocks {
  constructor(
    private readonly sql: SqlStorage,
    private readonly queue: Queue,
    private readonly ledger: WorkLedger,
  ) {}

  /** Creates the run's blocks (none when its tasks fit one) and sends them; returns how many. */
  async start(config: RunConfig): Promise<number> {
    const blocks = similarityBlocks(config.tasks.length);
    for (const b of blocks) this.sql.exec("INSERT OR IGNORE INTO similarity_blocks (id) VALUES (?)", b.id);
    this.ledger.add(
      "similarity",
      blocks.map((b) => ({ id: b.id, ref: b.id })),
    );
    await this.send(
      config,
      blocks.map((b) => b.id),
    );
    return blocks.length;
  }

  /** Stores a block's inner products; true when it was the last one missing. */
  record(id: string, dots: Float64Array, multiplyAdds: number): boolean {
    if (!this.ledger.complete(id)) return false;
    this.sql.exec(
      "UPDATE similarity_blocks SET dots = ?, multiply_adds = ? WHERE id = ?",
      dots.slice().buffer,
      multiplyAdds,
      id,
    );
    return this.pending() === 0;
  }

  pending(): number {
    return this.ledger.open("similarity");
  }

  /** What the blocks cost: messages sent and multiply-adds computed (counted by the consumers). */
  usage(): { blocks: number; multiplyAdds: number } {
    return this.sql
      .exec<{ blocks: number; multiplyAdds: number }>(
        "SELECT count(*) AS blocks, coalesce(sum(multiply_adds), 0) AS multiplyAdds FROM similarity_blocks",
      )
      .one();
  }

  /** The cosine matrix, once every block reported. */
  similarity(config: RunConfig): Float64Array {
    const stored = new Map(
      this.sql
        .exec<{ id: string; dots: ArrayBuffer }>("SELECT id, dots FROM similarity_blocks")
        .toArray()
        .map((r) => [r.id, r.dots]),
    );
    return assembleSimilarity(
      config.tasks.length,
      similarityBlocks(config.tasks.length),
      (b) => new Float64Array(stored.get(b.id)!),
    );
  }

  /** Sends blocks by id, marked sent in the ledger before the messages go. */
  async send(config: RunConfig, ids: readonly string[]): Promise<void> {
    const wanted = new Set(ids);
    const blocks = similarityBlocks(config.tasks.length).filter((b) => wanted.has(b.id));
    this.ledger.markSent(ids);
    await sendMessages(
      this.queue,
      blocks.map((b) => similarityMessage(config.runId, config.modelId, config.tasks, b)),
    );
    this.sql.exec("UPDATE run SET messages = messages + ?", blocks.length);
  }
}
