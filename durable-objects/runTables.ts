/**
 * A ClusterRun's SQLite tables and the reads the run needs. Every phase writes its results and
 * its successor phase in one transaction, so an object evicted mid-phase restarts that phase
 * from what is stored and nothing is ever half-advanced.
 */
import type { RunConfig } from "../src/runs/config";
import type { RunPhase, RunState } from "../src/runs/status";

export type { RunPhase, RunState };

interface RunFields {
  state: RunState;
  phase: RunPhase;
  iteration: number;
  reason: string | null;
  best_iteration: number | null;
  /** Queue messages sent for few-shot units; null for runs stored before it was counted (one message per unit send). */
  messages: number | null;
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
  /** "cache" when the loss was known before the run asked, else "queue". */
  source: string;
  attempts: number;
  sent_at: number;
  error: string | null;
  /** Forward passes the evaluator counted for this unit (null for a cached loss). */
  passes: number | null;
  /** When a consumer took the unit for evaluation; a send clears it (one evaluation per send). */
  claimed_at: number | null;
  exact_match: number | null;
}

export function createRunTables(sql: SqlStorage): void {
  sql.exec(`
    CREATE TABLE IF NOT EXISTS run (
      id INTEGER PRIMARY KEY CHECK (id = 1), config TEXT NOT NULL, state TEXT NOT NULL, phase TEXT NOT NULL,
      iteration INTEGER NOT NULL, reason TEXT, best_iteration INTEGER,
      created_at TEXT NOT NULL, updated_at TEXT NOT NULL, finished_at TEXT);
    CREATE TABLE IF NOT EXISTS iterations (
      iteration INTEGER PRIMARY KEY, assignment TEXT NOT NULL, objective REAL, started_at TEXT NOT NULL, finished_at TEXT);
    CREATE TABLE IF NOT EXISTS clusters (
      iteration INTEGER NOT NULL, cluster INTEGER NOT NULL, members TEXT NOT NULL, cluster_key TEXT NOT NULL,
      sha256 TEXT NOT NULL, bytes INTEGER NOT NULL, rank INTEGER NOT NULL, PRIMARY KEY (iteration, cluster));
    CREATE TABLE IF NOT EXISTS units (
      id TEXT PRIMARY KEY, iteration INTEGER NOT NULL, task INTEGER NOT NULL, cluster INTEGER NOT NULL,
      loss_key TEXT NOT NULL, loss REAL, tokens INTEGER, ms REAL, source TEXT NOT NULL,
      attempts INTEGER NOT NULL, sent_at INTEGER NOT NULL, error TEXT, passes INTEGER, claimed_at INTEGER);
    CREATE INDEX IF NOT EXISTS units_pending ON units (iteration) WHERE loss IS NULL;
    CREATE INDEX IF NOT EXISTS units_overdue ON units (iteration, sent_at) WHERE loss IS NULL;
    CREATE INDEX IF NOT EXISTS units_by_task ON units (iteration, task);
    CREATE TABLE IF NOT EXISTS similarity (task INTEGER PRIMARY KEY, row BLOB NOT NULL);
    CREATE TABLE IF NOT EXISTS restarts (restart INTEGER PRIMARY KEY, first_iteration INTEGER NOT NULL, seed INTEGER NOT NULL);
    CREATE TABLE IF NOT EXISTS parts (task INTEGER PRIMARY KEY, iteration INTEGER NOT NULL);
    CREATE TABLE IF NOT EXISTS events (seq INTEGER PRIMARY KEY AUTOINCREMENT, at TEXT NOT NULL, type TEXT NOT NULL, data TEXT NOT NULL);`);
  // Runs stored before units counted their forward passes (a developer's earlier `npm start`).
  const columns = sql.exec<{ name: string }>("PRAGMA table_info(units)").toArray().map((c) => c.name);
  if (!columns.includes("passes")) sql.exec("ALTER TABLE units ADD COLUMN passes INTEGER; ALTER TABLE units ADD COLUMN claimed_at INTEGER;");
  // The unit's few-shot exact match (restarts are kept by it); null for units before it was kept, or cached without it.
  if (!columns.includes("exact_match")) sql.exec("ALTER TABLE units ADD COLUMN exact_match REAL");
  // Per-iteration unit counters (a report is O(1)); NULL until the iteration's units are planned.
  const counted = sql.exec<{ name: string }>("PRAGMA table_info(iterations)").toArray().map((c) => c.name);
  if (!counted.includes("units_total")) sql.exec("ALTER TABLE iterations ADD COLUMN units_total INTEGER; ALTER TABLE iterations ADD COLUMN units_pending INTEGER;");
  // Whether the iteration evaluates every task under every cluster (pruned D2C evaluates fewer); runs before pruning were all full.
  if (!counted.includes("full")) sql.exec("ALTER TABLE iterations ADD COLUMN full INTEGER NOT NULL DEFAULT 1");
  // Few-shot exact match of the iteration's assignment (restarts are kept by it), set with its objective.
  if (!counted.includes("exact_match")) sql.exec("ALTER TABLE iterations ADD COLUMN exact_match REAL");
  // Queue messages the run sent for its few-shot units (several units each); runs before grouping sent one per unit.
  const runColumns = sql.exec<{ name: string }>("PRAGMA table_info(run)").toArray().map((c) => c.name);
  if (!runColumns.includes("messages")) sql.exec("ALTER TABLE run ADD COLUMN messages INTEGER");
}

/**
 * The task vectors' cosine similarities, one row of float64 per task (8N bytes: 8 KB at N = 1000,
 * far from the 2 MB row limit), for pruned D2C's similarity ranking (the same numbers as bench/).
 */
export function storeSimilarity(sql: SqlStorage, similarity: Float64Array): void {
  const n = Math.round(Math.sqrt(similarity.length));
  for (let t = 0; t < n; t++) sql.exec("INSERT OR REPLACE INTO similarity VALUES (?, ?)", t, similarity.slice(t * n, (t + 1) * n).buffer);
}

/** The stored similarities as an n x n matrix, or null when the run stored none (a full first iteration). */
export function readSimilarity(sql: SqlStorage, n: number): Float64Array | null {
  const rows = sql.exec<{ task: number; row: ArrayBuffer }>("SELECT task, row FROM similarity").toArray();
  if (rows.length !== n) return null;
  const similarity = new Float64Array(n * n);
  for (const { task, row } of rows) similarity.set(new Float64Array(row), task * n);
  return similarity;
}

/** The D2C trajectory an iteration belongs to (restart 0 is the run's own start; runs without restarts have none stored). */
export interface Restart {
  readonly restart: number;
  readonly firstIteration: number;
  readonly seed: number;
}

export function insertRestart(sql: SqlStorage, restart: Restart): void {
  sql.exec("INSERT INTO restarts VALUES (?, ?, ?)", restart.restart, restart.firstIteration, restart.seed);
}

/** The trajectory going on: the last one started; restart 0 from iteration 0 for runs that stored none. */
export function currentRestart(sql: SqlStorage, seed: number): Restart {
  const row = sql.exec<{ restart: number; first_iteration: number; seed: number }>("SELECT * FROM restarts ORDER BY restart DESC LIMIT 1").toArray()[0];
  return row ? { restart: row.restart, firstIteration: row.first_iteration, seed: row.seed } : { restart: 0, firstIteration: 0, seed };
}

/** The restart of each iteration, by iteration (0 for every iteration of a run without restarts). */
export function restartOfIterations(sql: SqlStorage): (iteration: number) => number {
  const starts = sql.exec<{ restart: number; first_iteration: number }>("SELECT restart, first_iteration FROM restarts ORDER BY first_iteration").toArray();
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
export function insertIteration(sql: SqlStorage, iteration: number, assignment: readonly number[], startedAt: string, full = true): void {
  sql.exec("INSERT INTO iterations (iteration, assignment, started_at, full) VALUES (?, ?, ?, ?)", iteration, JSON.stringify(assignment), startedAt, full ? 1 : 0);
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
  const row = sql.exec<{ total: number | null; pending: number | null }>(
    "SELECT units_total AS total, units_pending AS pending FROM iterations WHERE iteration = ?", iteration).toArray()[0];
  if (!row) return null;
  if (row.total !== null) return { total: row.total, pending: row.pending ?? 0 };
  // An iteration planned before the counters existed: count it once and keep the counts.
  const counted = sql.exec<{ total: number; pending: number | null }>(
    "SELECT count(*) AS total, sum(loss IS NULL) AS pending FROM units WHERE iteration = ?", iteration).one();
  if (counted.total === 0) return null;
  sql.exec("UPDATE iterations SET units_total = ?, units_pending = ? WHERE iteration = ?", counted.total, counted.pending ?? 0, iteration);
  return { total: counted.total, pending: counted.pending ?? 0 };
}

/**
 * Records a unit's loss once and counts it off its iteration: two indexed single-row writes,
 * whatever the iteration's size. Null when the unit had already reported (a duplicate delivery).
 */
export function recordUnitLoss(sql: SqlStorage, unitId: string, result: { loss: number; tokens: number; ms: number; forwardPasses: number; exactMatch: number }): (UnitCounts & { iteration: number }) | null {
  const unit = sql.exec<{ iteration: number }>("UPDATE units SET loss = ?, tokens = ?, ms = ?, passes = ?, exact_match = ?, error = NULL WHERE id = ? AND loss IS NULL RETURNING iteration",
    result.loss, result.tokens, result.ms, result.forwardPasses, result.exactMatch, unitId).toArray()[0];
  if (!unit) return null;
  const counts = sql.exec<{ total: number; pending: number }>(
    "UPDATE iterations SET units_pending = units_pending - 1 WHERE iteration = ? RETURNING units_total AS total, units_pending AS pending", unit.iteration).one();
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
  return JSON.parse(sql.exec<{ assignment: string }>("SELECT assignment FROM iterations WHERE iteration = ?", iteration).one().assignment) as number[];
}

export function clustersOfIteration(sql: SqlStorage, iteration: number): ClusterRow[] {
  return sql.exec<ClusterRow>("SELECT * FROM clusters WHERE iteration = ? ORDER BY cluster", iteration).toArray();
}

export function unitsOfIteration(sql: SqlStorage, iteration: number): UnitRow[] {
  return sql.exec<UnitRow>("SELECT * FROM units WHERE iteration = ? ORDER BY task, cluster", iteration).toArray();
}

/** The iteration's pending units sent at or before `sentBefore` (the watchdog's scan, indexed by sent_at). */
export function overdueUnits(sql: SqlStorage, iteration: number, sentBefore: number): UnitRow[] {
  return sql.exec<UnitRow>("SELECT * FROM units WHERE iteration = ? AND loss IS NULL AND sent_at <= ?", iteration, sentBefore).toArray();
}

/**
 * Takes a pending unit for one evaluation. A duplicate delivery of the same send (the queue is
 * at-least-once) finds it claimed or reported and is dropped before any forward pass; a resend
 * or a failed attempt clears the claim.
 */
export function claimUnit(sql: SqlStorage, unitId: string): boolean {
  return sql.exec("UPDATE units SET claimed_at = ? WHERE id = ? AND loss IS NULL AND claimed_at IS NULL", Date.now(), unitId).rowsWritten > 0;
}
