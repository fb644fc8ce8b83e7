/**
 * The lease protocol of every kind of queued work a run sends (few-shot units, held-out units,
 * similarity blocks, tuning candidates), written once. Each item is a row: sent (attempts,
 * sent_at), claimed by the consumer that evaluates it (one evaluation per send: a duplicate
 * delivery finds it claimed or done and is dropped before any work), released when an attempt
 * fails (the queue retries), done when its result is stored. The run's alarm asks for the overdue
 * items and re-sends them, until one has been sent MAX_SENDS times: then the run gives up on it.
 * An item is overdue only once its kind has gone quiet for a timeout: at N = 1,000 one phase
 * queues minutes of work (210 similarity blocks, up to 20,000 units), and what waits behind a
 * moving backlog is late, not lost (re-sending it every timeout failed such a run while it drained).
 * What an item computes lives in its kind's own table, keyed by `ref`.
 */
import type { WorkKind } from "../src/queueMessages";
import type { Migration } from "./migrations";

/** Sends of one item before the run gives up on it (the queue also retries each send's failures). */
export const MAX_SENDS = 5;

export interface WorkItem extends Record<string, SqlStorageValue> {
  id: string;
  kind: WorkKind;
  /** The item's key in its kind's table (a unit id, a block id, a task index, a candidate id). */
  ref: string;
  attempts: number;
  sent_at: number;
  claimed_at: number | null;
  done_at: number | null;
  /** The last failed attempt's error, kept for the run's reason should the item never succeed. */
  error: string | null;
}

export const createWorkTable: Migration = (sql) =>
  sql.exec(`
    CREATE TABLE work (
      id TEXT PRIMARY KEY, kind TEXT NOT NULL, ref TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,
      sent_at INTEGER NOT NULL DEFAULT 0, claimed_at INTEGER, done_at INTEGER, error TEXT);
    CREATE INDEX work_open ON work (kind, sent_at) WHERE done_at IS NULL;
    CREATE INDEX work_done ON work (kind, done_at);`);

export class WorkLedger {
  constructor(private readonly sql: SqlStorage) {}

  /** New items, not sent yet (the next watchdog pass, or `markSent` now, sends them). */
  add(kind: WorkKind, items: readonly { id: string; ref: string }[]): void {
    for (const i of items) this.sql.exec("INSERT INTO work (id, kind, ref) VALUES (?, ?, ?)", i.id, kind, i.ref);
  }

  /** Drops a kind's items (a failed report that starts over). */
  clear(kind: WorkKind): void {
    this.sql.exec("DELETE FROM work WHERE kind = ?", kind);
  }

  /** Counts a send and clears any claim, before the messages go: no delivery can find an item unsent. */
  markSent(ids: readonly string[]): void {
    const now = Date.now();
    for (const id of ids)
      this.sql.exec("UPDATE work SET attempts = attempts + 1, sent_at = ?, claimed_at = NULL WHERE id = ?", now, id);
  }

  /** Takes an open item for one evaluation; false for a duplicate delivery or an item already done. */
  claim(id: string): boolean {
    return (
      this.sql.exec(
        "UPDATE work SET claimed_at = ? WHERE id = ? AND done_at IS NULL AND claimed_at IS NULL",
        Date.now(),
        id,
      ).rowsWritten > 0
    );
  }

  /** An attempt failed and the queue retries it: the claim goes, the error stays as the reason-to-be. */
  release(id: string, reason: string): void {
    this.sql.exec(
      "UPDATE work SET claimed_at = NULL, error = ? WHERE id = ? AND done_at IS NULL",
      reason.slice(0, 500),
      id,
    );
  }

  /** Marks an item done; false when it already was (a duplicate result changes nothing). */
  complete(id: string): boolean {
    return (
      this.sql.exec("UPDATE work SET done_at = ?, error = NULL WHERE id = ? AND done_at IS NULL", Date.now(), id)
        .rowsWritten > 0
    );
  }

  item(id: string): WorkItem | null {
    return this.sql.exec<WorkItem>("SELECT * FROM work WHERE id = ?", id).toArray()[0] ?? null;
  }

  open(kind: WorkKind): number {
    return this.sql.exec<{ n: number }>("SELECT count(*) AS n FROM work WHERE kind = ? AND done_at IS NULL", kind).one()
      .n;
  }

  /**
   * The watchdog's scan: open items of `kind` never sent, and those sent `timeoutMs` ago once no
   * item of the kind was done within `timeoutMs`; with the first of them already sent MAX_SENDS
   * times (the run gives up on it rather than re-send).
   */
  overdue(kind: WorkKind, timeoutMs: number): { overdue: WorkItem[]; exhausted: WorkItem | undefined } {
    const since = Date.now() - timeoutMs;
    const lastDone = this.sql
      .exec<{ at: number | null }>("SELECT max(done_at) AS at FROM work WHERE kind = ?", kind)
      .one().at;
    const moving = lastDone !== null && lastDone > since;
    const overdue = this.sql
      .exec<WorkItem>(
        "SELECT * FROM work WHERE kind = ? AND done_at IS NULL AND sent_at <= ? AND (attempts = 0 OR ?)",
        kind,
        since,
        moving ? 0 : 1,
      )
      .toArray();
    return { overdue, exhausted: overdue.find((i) => i.attempts >= MAX_SENDS) };
  }
}
