/**
 * The Catalogue's index of clustering runs (`GET /v1/runs`): what a run was asked to do, written
 * when it starts, and how it went, written when it ends and when its report lands. The state of
 * a run itself lives in its ClusterRun object; this is the list that need not ask each of them.
 */
import type { RunOutcome, RunSummary } from "../src/runs/config";

/** What is known of a run when it starts: its summary without the outcome. */
export type RunRequestSummary = Omit<RunSummary, keyof RunOutcome>;

interface RunRow extends Record<string, SqlStorageValue> {
  summary: string;
  state: string | null;
  objective: number | null;
  held_out: number | null;
  finished_at: string | null;
  duration_seconds: number | null;
  estimated_usd: number | null;
}

/** Migration: the outcome columns; rows from before have none (their state is read once, see runIndex.ts). */
export function addOutcomeColumns(sql: SqlStorage): void {
  sql.exec(`
    ALTER TABLE runs ADD COLUMN state TEXT;
    ALTER TABLE runs ADD COLUMN objective REAL;
    ALTER TABLE runs ADD COLUMN held_out REAL;
    ALTER TABLE runs ADD COLUMN finished_at TEXT;
    ALTER TABLE runs ADD COLUMN duration_seconds REAL;
    ALTER TABLE runs ADD COLUMN estimated_usd REAL;`);
}

/** A run that just started: "running", nothing known yet of how it goes. */
export function recordRun(sql: SqlStorage, run: RunRequestSummary): void {
  sql.exec(
    "INSERT OR REPLACE INTO runs (id, created_at, summary, state) VALUES (?, ?, ?, 'running')",
    run.runId,
    run.createdAt,
    JSON.stringify(run),
  );
}

/** How the run went so far, replacing what was recorded before; false when the index has no such run. */
export function recordOutcome(sql: SqlStorage, runId: string, outcome: RunOutcome): boolean {
  return (
    sql.exec(
      `UPDATE runs SET state = ?, objective = ?, held_out = ?, finished_at = ?, duration_seconds = ?,
       estimated_usd = ? WHERE id = ?`,
      outcome.state,
      outcome.objective ?? null,
      outcome.heldOut ?? null,
      outcome.finishedAt ?? null,
      outcome.durationSeconds ?? null,
      outcome.estimatedUsd ?? null,
      runId,
    ).rowsWritten > 0
  );
}

/** The newest `limit` runs, newest first. */
export function listRuns(sql: SqlStorage, limit: number): RunSummary[] {
  return sql
    .exec<RunRow>(
      `SELECT summary, state, objective, held_out, finished_at, duration_seconds, estimated_usd FROM runs
       ORDER BY created_at DESC LIMIT ?`,
      limit,
    )
    .toArray()
    .map(toSummary);
}

function toSummary(r: RunRow): RunSummary {
  const present = <K extends string, V>(key: K, value: V | null) =>
    (value === null ? {} : { [key]: value }) as Partial<Record<K, V>>;
  return {
    ...(JSON.parse(r.summary) as RunSummary),
    ...present("state", r.state as RunOutcome["state"] | null),
    ...present("objective", r.objective),
    ...present("heldOut", r.held_out),
    ...present("finishedAt", r.finished_at),
    ...present("durationSeconds", r.duration_seconds),
    ...present("estimatedUsd", r.estimated_usd),
  };
}
