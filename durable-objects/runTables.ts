/**
 * A ClusterRun's SQLite tables and the reads the run needs. Every phase writes its results and
 * its successor phase in one transaction, so an object evicted mid-phase restarts that phase
 * from what is stored and nothing is ever half-advanced.
 */
import type { RunConfig } from "../src/runs/config";
import type { RunPhase, RunState } from "../src/runs/status";
import { migrate, type Migration } from "./migrations";
import { createWorkTable } from "./workLedger";

export type { RunPhase, RunState };

interface RunFields {
  state: RunState;
  phase: RunPhase;
  iteration: number;
  reason: string | null;
  best_iteration: number | null;
  /** Queue messages sent for few-shot units and similarity blocks. */
  messages: number;
  /** The catalogue version whose task changes the run last checked (null: its start's). */
  catalogue_seen: number | null;
  created_at: string;
  updated_at: string;
  finished_at: string | null;
}

type RunRow = RunFields & { config: string } & Record<string, SqlStorageValue>;

export interface ClusterRow extends Record<string, SqlStorageValue> {
  iteration: number;
  cluster: number;
  members: string;
  cluster_key: string;
  sha256: string;
  bytes: number;
  rank: number;
}

export interface UnitRow extends Record<string, SqlStorageValue> {
  id: string;
  iteration: number;
  task: number;
  cluster: number;
  loss_key: string;
  loss: number | null;
  tokens: number | null;
  ms: number | null;
  /**
   * "cache" when the loss was known before the run asked, else "queue" (then leased: durable-objects/workLedger.ts).
   */
  source: string;
  /** Forward passes the evaluator counted for this unit (null for a cached loss). */
  passes: number | null;
  exact_match: number | null;
}

/**
 * The run's schema, in order (durable-objects/migrations.ts). 1: the tables as issue 21 left them,
 * each lease in its kind's own table (IF NOT EXISTS: state from before versioning has that shape);
 * 2: one work ledger for every kind, the lease columns moved there; 3: the catalogue version the
 * run last checked its tasks against.
 */
export const RUN_MIGRATIONS: readonly Migration[] = [
  (sql) =>
    sql.exec(
      `
    CREATE TABLE IF NOT EXISTS run (
      id INTEGER PRIMARY KEY CHECK (id = 1), config TEXT NOT NULL, state TEXT NOT NULL, phase TEXT NOT NULL,
      iteration INTEGER NOT NULL, reason TEXT, best_iteration INTEGER,
      created_at TEXT NOT NULL, updated_at TEXT NOT NULL, finished_at TEXT, messages INTEGER);
    CREATE TABLE IF NOT EXISTS iterations (
      iteration INTEGER PRIMARY KEY, assignment TEXT NOT NULL, objective REAL, started_at TEXT NOT NULL, finished_at ` +
        `TEXT,
      units_total INTEGER, units_pending INTEGER, full INTEGER NOT NULL DEFAULT 1, exact_match REAL);
    CREATE TABLE IF NOT EXISTS clusters (
      iteration INTEGER NOT NULL, cluster INTEGER NOT NULL, members TEXT NOT NULL, cluster_key TEXT NOT NULL,
      sha256 TEXT NOT NULL, bytes INTEGER NOT NULL, rank INTEGER NOT NULL, PRIMARY KEY (iteration, cluster));
    CREATE TABLE IF NOT EXISTS units (
      id TEXT PRIMARY KEY, iteration INTEGER NOT NULL, task INTEGER NOT NULL, cluster INTEGER NOT NULL,
      loss_key TEXT NOT NULL, loss REAL, tokens INTEGER, ms REAL, source TEXT NOT NULL,
      attempts INTEGER NOT NULL, sent_at INTEGER NOT NULL, error TEXT, passes INTEGER, claimed_at INTEGER, ` +
        `exact_match REAL);
    CREATE INDEX IF NOT EXISTS units_pending ON units (iteration) WHERE loss IS NULL;
    CREATE INDEX IF NOT EXISTS units_overdue ON units (iteration, sent_at) WHERE loss IS NULL;
    CREATE INDEX IF NOT EXISTS units_by_task ON units (iteration, task);
    CREATE TABLE IF NOT EXISTS similarity (task INTEGER PRIMARY KEY, row BLOB NOT NULL);
    CREATE TABLE IF NOT EXISTS restarts (restart INTEGER PRIMARY KEY, first_iteration INTEGER NOT NULL, seed INTEGER ` +
        `NOT NULL);
    CREATE TABLE IF NOT EXISTS parts (task INTEGER PRIMARY KEY, iteration INTEGER NOT NULL);
    CREATE TABLE IF NOT EXISTS events (seq INTEGER PRIMARY KEY AUTOINCREMENT, at TEXT NOT NULL, type TEXT NOT NULL, ` +
        `data TEXT NOT NULL);
    CREATE TABLE IF NOT EXISTS similarity_blocks (
      id TEXT PRIMARY KEY, dots BLOB, multiply_adds REAL, attempts INTEGER NOT NULL, sent_at INTEGER NOT NULL,
      claimed_at INTEGER, error TEXT);
    CREATE TABLE IF NOT EXISTS report_state (
      id INTEGER PRIMARY KEY CHECK (id = 1), state TEXT NOT NULL, reason TEXT, requested_at TEXT NOT NULL, ` +
        `finished_at TEXT);
    CREATE TABLE IF NOT EXISTS report_units (
      task INTEGER PRIMARY KEY, cluster INTEGER NOT NULL, merged_sha256 TEXT NOT NULL, test_sha256 TEXT NOT NULL,
      exact_match REAL, loss REAL, examples INTEGER, passes INTEGER,
      attempts INTEGER NOT NULL, sent_at INTEGER NOT NULL, claimed_at INTEGER, error TEXT);
    CREATE TABLE IF NOT EXISTS tune_started (id INTEGER PRIMARY KEY CHECK (id = 1), at TEXT NOT NULL);
    CREATE TABLE IF NOT EXISTS tune_clusters (cluster INTEGER PRIMARY KEY, members TEXT NOT NULL, state TEXT NOT ` +
        `NULL, round INTEGER NOT NULL);
    CREATE TABLE IF NOT EXISTS tune_candidates (
      id TEXT PRIMARY KEY, cluster INTEGER NOT NULL, key TEXT NOT NULL, merge TEXT NOT NULL,
      sha256 TEXT, bytes INTEGER, rank INTEGER, losses TEXT, passes INTEGER, ms REAL,
      attempts INTEGER NOT NULL, sent_at INTEGER NOT NULL, claimed_at INTEGER, error TEXT);`,
    ),
  (sql) => {
    createWorkTable(sql);
    // Each kind's leases as they stood; work already done is marked done, with its sends counted.
    sql.exec(
      `
      INSERT INTO work (id, kind, ref, attempts, sent_at, claimed_at, done_at, error)
        SELECT id, 'unit', id, attempts, sent_at, claimed_at, CASE WHEN loss IS NULL THEN NULL ELSE 0 END, error
        FROM units WHERE source = 'queue';
      INSERT INTO work (id, kind, ref, attempts, sent_at, claimed_at, done_at, error)
        SELECT id, 'similarity', id, attempts, sent_at, claimed_at, CASE WHEN dots IS NULL THEN NULL ELSE 0 END, ` +
        `error
        FROM similarity_blocks;
      INSERT INTO work (id, kind, ref, attempts, sent_at, claimed_at, done_at, error)
        SELECT 'test:' || task, 'report', task, attempts, sent_at, claimed_at, CASE WHEN loss IS NULL THEN NULL ELSE ` +
        `0 END, error
        FROM report_units;
      INSERT INTO work (id, kind, ref, attempts, sent_at, claimed_at, done_at, error)
        SELECT id, 'candidate', id, attempts, sent_at, claimed_at, CASE WHEN losses IS NULL THEN NULL ELSE 0 END, ` +
        `error
        FROM tune_candidates WHERE attempts > 0;
      UPDATE run SET messages = coalesce(messages, (SELECT coalesce(sum(attempts), 0) FROM units WHERE source = ` +
        `'queue'));
      DROP INDEX units_overdue;`,
    );
    for (const table of ["units", "similarity_blocks", "report_units", "tune_candidates"]) {
      for (const column of ["attempts", "sent_at", "claimed_at", "error"])
        sql.exec(`ALTER TABLE ${table} DROP COLUMN ${column}`);
    }
  },
  (sql) => sql.exec("ALTER TABLE run ADD COLUMN catalogue_seen INTEGER"),
];

export function createRunTables(sql: SqlStorage): void {
  migrate(sql, RUN_MIGRATIONS);
}

/**
 * The task vectors' cosine similarities, one row of float64 per task (8N bytes: 8 KB at N = 1000,
 * far from the 2 MB row limit), for pruned D2C's similarity ranking (the same numbers as bench/).
 */
export function storeSimilarity(sql: SqlStorage, similarity: Float64Array): void {
  const n = Math.round(Math.sqrt(similarity.length));
  for (let t = 0; t < n; t++)
    sql.exec(
      "INSERT OR REPLACE INTO similarity (task, row) VALUES (?, ?)",
      t,
      similarity.slice(t * n, (t + 1) * n).buffer,
    );
}

/** The stored similarities as an n x n matrix, or null when the run stored none (a full first iteration). */
export function readSimilarity(sql: SqlStorage, n: number): Float64Array | null {
  const rows = sql.exec<{ task: number; row: ArrayBuffer }>("SELECT task, row FROM similarity").toArray();
  if (rows.length !== n) return null;
  const similarity = new Float64Array(n * n);
  for (const { task, row } of rows) similarity.set(new Float64Array(row), task * n);
  return similarity;
}

/**
 * The D2C trajectory an iteration belongs to (restart 0 is the run's own start; runs without restarts have none
 * stored).
 */
export interface Restart {
  readonly restart: number;
  readonly firstIteration: number;
  readonly seed: number;
}

export function insertRestart(sql: SqlStorage, restart: Restart): void {
  sql.exec(
    "INSERT INTO restarts (restart, first_iteration, seed) VALUES (?, ?, ?)",
    restart.restart,
    restart.firstIteration,
    restart.seed,
  );
}

/** The trajectory going on: the last one started; restart 0 from iteration 0 for runs that stored none. */
export function currentRestart(sql: SqlStorage, seed: number): Restart {
  const row = sql
    .exec<{ restart: number; first_iteration: number; seed: number }>(
      "SELECT * FROM restarts ORDER BY restart DESC LIMIT 1",
    )
    .toArray()[0];
  return row
    ? { restart: row.restart, firstIteration: row.first_iteration, seed: row.seed }
    : { restart: 0, firstIteration: 0, seed };
}

/** The restart of each iteration, by iteration (0 for every iteration of a run without restarts). */
export function restartOfIterations(sql: SqlStorage): (iteration: number) => number {
  const starts = sql
    .exec<{ restart: number; first_iteration: number }>(
      "SELECT restart, first_iteration FROM restarts ORDER BY first_iteration",
    )
    .toArray();
  return (iteration) => starts.filter((s) => s.first_iteration <= iteration).at(-1)?.restart ?? 0;
}

/**
 * Mean over tasks of the few-shot exact match under their own cluster, from the iteration's units;
 * null when a unit has none (a loss cached before exact match was kept). Computed once, at reassign.
 */
export function ownExactMatch(units: readonly UnitRow[], assignment: readonly number[]): number | null {
  const own = units.filter((u) => assignment[u.task] === u.cluster);
  if (own.length !== assignment.length || own.some((u) => u.exact_match === null)) return null;
  return own.reduce((s, u) => s + u.exact_match!, 0) / own.length;
}

/** A new iteration's row, its units not planned yet; `full`: every task under every cluster. */
export function insertIteration(
  sql: SqlStorage,
  iteration: number,
  assignment: readonly number[],
  startedAt: string,
  full = true,
): void {
  sql.exec(
    "INSERT INTO iterations (iteration, assignment, started_at, full) VALUES (?, ?, ?, ?)",
    iteration,
    JSON.stringify(assignment),
    startedAt,
    full ? 1 : 0,
  );
}

export function isFullIteration(sql: SqlStorage, iteration: number): boolean {
  return sql.exec<{ full: number }>("SELECT full FROM iterations WHERE iteration = ?", iteration).one().full === 1;
}

export interface UnitCounts {
  readonly total: number;
  readonly pending: number;
}

/** The iteration's unit counters, or null before its units are planned. */
export function unitCounts(sql: SqlStorage, iteration: number): UnitCounts | null {
  const row = sql
    .exec<{ total: number | null; pending: number | null }>(
      "SELECT units_total AS total, units_pending AS pending FROM iterations WHERE iteration = ?",
      iteration,
    )
    .toArray()[0];
  return row?.total == null ? null : { total: row.total, pending: row.pending ?? 0 };
}

/**
 * Records a unit's loss once and counts it off its iteration: two indexed single-row writes,
 * whatever the iteration's size. Null when the unit had already reported (a duplicate delivery).
 */
export function recordUnitLoss(
  sql: SqlStorage,
  unitId: string,
  result: { loss: number; tokens: number; ms: number; forwardPasses: number; exactMatch: number },
): (UnitCounts & { iteration: number }) | null {
  const unit = sql
    .exec<{ iteration: number }>(
      "UPDATE units SET loss = ?, tokens = ?, ms = ?, passes = ?, exact_match = ? WHERE id = ? AND loss IS " +
        "NULL RETURNING iteration",
      result.loss,
      result.tokens,
      result.ms,
      result.forwardPasses,
      result.exactMatch,
      unitId,
    )
    .toArray()[0];
  if (!unit) return null;
  const counts = sql
    .exec<{ total: number; pending: number }>(
      "UPDATE iterations SET units_pending = units_pending - 1 WHERE iteration = ? RETURNING units_total AS " +
        "total, units_pending AS pending",
      unit.iteration,
    )
    .one();
  return { iteration: unit.iteration, total: counts.total, pending: counts.pending };
}

export type StoredRun = RunFields & { readonly parsed: RunConfig };

export function readRun(sql: SqlStorage): StoredRun | null {
  const row = sql.exec<RunRow>("SELECT * FROM run").toArray()[0];
  if (!row) return null;
  const { config, ...rest } = row;
  return { ...(rest as RunFields), parsed: JSON.parse(config) as RunConfig };
}

export function assignmentOf(sql: SqlStorage, iteration: number): number[] {
  return JSON.parse(
    sql.exec<{ assignment: string }>("SELECT assignment FROM iterations WHERE iteration = ?", iteration).one()
      .assignment,
  ) as number[];
}

export function clustersOfIteration(sql: SqlStorage, iteration: number): ClusterRow[] {
  return sql.exec<ClusterRow>("SELECT * FROM clusters WHERE iteration = ? ORDER BY cluster", iteration).toArray();
}

export function unitsOfIteration(sql: SqlStorage, iteration: number): UnitRow[] {
  return sql.exec<UnitRow>("SELECT * FROM units WHERE iteration = ? ORDER BY task, cluster", iteration).toArray();
}

/** An iteration's cluster: its members (task indices), cache key and the merged adapter built. */
export function insertCluster(
  sql: SqlStorage,
  iteration: number,
  cluster: number,
  members: readonly number[],
  key: string,
  merged: { sha256: string; bytes: number; rank: number },
): void {
  sql.exec(
    "INSERT OR REPLACE INTO clusters (iteration, cluster, members, cluster_key, sha256, bytes, rank) VALUES " +
      "(?, ?, ?, ?, ?, ?, ?)",
    iteration,
    cluster,
    JSON.stringify(members),
    key,
    merged.sha256,
    merged.bytes,
    merged.rank,
  );
}
