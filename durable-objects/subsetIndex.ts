/**
 * A profile's per-device task sets (issue 14), kept in its Releases object: which subsets devices
 * asked for, when last, and where each one's build stands. Builds are deduplicated by key (a
 * subset building or published is never started again by a request), limited per profile, and
 * the subsets themselves bounded: past the profile's maxSubsets the least recently requested is retired.
 * Each subset's releases live in a Releases object of their own (src/storage/runs.ts).
 */
import type { RunTask } from "../src/runs/config";
import type { SubsetState, SubsetView } from "../src/delivery/subsetView";

/** Subset builds going at once per profile: each is a D2C run over the shared Queue. */
export const MAX_BUILDING = 2;
/** Builds started per profile per hour: a flood of new needs cannot buy unbounded compute. */
export const MAX_BUILDS_PER_HOUR = 30;
/** A failed build is tried again after this long, on a request or a cron tick. */
export const RETRY_FAILED_MS = 10 * 60_000;
/** A build with no run this long after it started was lost (its message failed): it waits again. */
export const BUILD_LOST_MS = 10 * 60_000;

export interface SubsetRequest {
  readonly key: string;
  readonly tasks: readonly string[];
  readonly locales: readonly string[];
  readonly apps: readonly string[];
  readonly taskSet?: string;
}

/** What a request leads to: build it now (the caller does), and the subsets the bound retired. */
export interface RequestOutcome {
  readonly build: boolean;
  readonly retired: readonly string[];
}

/** How a build ended; `pinned` is what a published release was built from (the cron compares it with the catalogue). */
export type BuildResult =
  | { readonly state: "published"; readonly pinned: readonly RunTask[]; readonly outcome: string }
  | { readonly state: "failed"; readonly outcome: string };

interface SubsetRow extends Record<string, SqlStorageValue> {
  key: string;
  tasks: string;
  locales: string;
  apps: string;
  task_set: string | null;
  state: SubsetState;
  run_id: string | null;
  outcome: string | null;
  pinned: string | null;
  requests: number;
  /** Increases with every request of any subset: the least recently requested has the lowest. */
  touched: number;
  first_requested_at: string;
  last_requested_at: string;
  updated_at: string;
}

export function createSubsetTables(sql: SqlStorage): void {
  sql.exec(`
    CREATE TABLE IF NOT EXISTS subsets (
      key TEXT PRIMARY KEY, tasks TEXT NOT NULL, locales TEXT NOT NULL, apps TEXT NOT NULL, task_set TEXT, state TEXT NOT NULL,
      run_id TEXT, outcome TEXT, pinned TEXT, requests INTEGER NOT NULL, touched INTEGER NOT NULL,
      first_requested_at TEXT NOT NULL, last_requested_at TEXT NOT NULL, updated_at TEXT NOT NULL);
    CREATE TABLE IF NOT EXISTS subset_builds (started_at TEXT NOT NULL);`);
}

/** A device asked for the subset: counted, and built if it is new (or retired, or failed long enough ago) and the limits allow. */
export function request(sql: SqlStorage, need: SubsetRequest, maxSubsets: number, now = new Date()): RequestOutcome {
  const at = now.toISOString();
  const row = get(sql, need.key);
  const touched = sql.exec<{ t: number | null }>("SELECT max(touched) AS t FROM subsets").one().t ?? 0;
  if (row) {
    sql.exec("UPDATE subsets SET requests = requests + 1, touched = ?, last_requested_at = ? WHERE key = ?", touched + 1, at, need.key);
    if (row.state === "retired") sql.exec("UPDATE subsets SET state = 'waiting', updated_at = ? WHERE key = ?", at, need.key);
    if (row.state === "published" || row.state === "building") return { build: false, retired: [] };
    if (row.state === "failed" && now.getTime() - Date.parse(row.updated_at) < RETRY_FAILED_MS) return { build: false, retired: [] };
  } else {
    sql.exec("INSERT INTO subsets VALUES (?, ?, ?, ?, ?, 'waiting', NULL, NULL, NULL, 1, ?, ?, ?, ?)",
      need.key, JSON.stringify(need.tasks), JSON.stringify(need.locales), JSON.stringify(need.apps), need.taskSet ?? null, touched + 1, at, at, at);
  }
  const retired = enforceBound(sql, need.key, maxSubsets, at);
  return { build: tryStart(sql, need.key, now), retired };
}

/** Retires the least recently requested subsets past `maxSubsets`, never `keep` (the one just asked for). */
function enforceBound(sql: SqlStorage, keep: string, maxSubsets: number, at: string): string[] {
  const live = sql.exec<{ n: number }>("SELECT count(*) AS n FROM subsets WHERE state != 'retired'").one().n;
  if (live <= maxSubsets) return [];
  const keys = sql.exec<{ key: string }>("SELECT key FROM subsets WHERE state != 'retired' AND key != ? ORDER BY touched LIMIT ?",
    keep, live - maxSubsets).toArray().map((r) => r.key);
  for (const key of keys) sql.exec("UPDATE subsets SET state = 'retired', outcome = 'retired: least recently requested past the bound', updated_at = ? WHERE key = ?", at, key);
  return keys;
}

/** Marks the subset building if the profile's limits allow one more build now. */
function tryStart(sql: SqlStorage, key: string, now: Date): boolean {
  const hourAgo = new Date(now.getTime() - 3600_000).toISOString();
  sql.exec("DELETE FROM subset_builds WHERE started_at < ?", hourAgo);
  const building = sql.exec<{ n: number }>("SELECT count(*) AS n FROM subsets WHERE state = 'building'").one().n;
  const lastHour = sql.exec<{ n: number }>("SELECT count(*) AS n FROM subset_builds").one().n;
  if (building >= MAX_BUILDING || lastHour >= MAX_BUILDS_PER_HOUR) {
    sql.exec("UPDATE subsets SET outcome = ? WHERE key = ? AND state = 'waiting'",
      building >= MAX_BUILDING ? `waiting: ${building} builds going (at most ${MAX_BUILDING})` : `waiting: ${lastHour} builds this hour (at most ${MAX_BUILDS_PER_HOUR})`, key);
    return false;
  }
  sql.exec("UPDATE subsets SET state = 'building', run_id = NULL, outcome = 'building', updated_at = ? WHERE key = ?", now.toISOString(), key);
  sql.exec("INSERT INTO subset_builds VALUES (?)", now.toISOString());
  return true;
}

export function building(sql: SqlStorage, key: string, runId: string): void {
  sql.exec("UPDATE subsets SET run_id = ?, outcome = ?, updated_at = ? WHERE key = ? AND state = 'building'", runId, `run ${runId} going`, new Date().toISOString(), key);
}

/**
 * The one caller allowed to publish the run's end: the run's message, or the cron, or the build
 * itself when the run ended before it was recorded (all cached). Released by `built`, or by `unclaim` after an unexpected error.
 */
export function claimFinish(sql: SqlStorage, key: string, runId: string): boolean {
  return sql.exec("UPDATE subsets SET outcome = ? WHERE key = ? AND state = 'building' AND run_id = ? AND outcome != ?",
    `publishing run ${runId}`, key, runId, `publishing run ${runId}`).rowsWritten > 0;
}

export function unclaim(sql: SqlStorage, key: string, runId: string): void {
  sql.exec("UPDATE subsets SET outcome = ? WHERE key = ? AND state = 'building' AND run_id = ?", `run ${runId} going`, key, runId);
}

/** Records a build's end; false when the subset was retired meanwhile (its release must not be served). */
export function built(sql: SqlStorage, key: string, result: BuildResult): boolean {
  const at = new Date().toISOString();
  const row = get(sql, key);
  if (!row || row.state === "retired") return false;
  if (result.state === "failed") sql.exec("UPDATE subsets SET state = 'failed', outcome = ?, updated_at = ? WHERE key = ?", result.outcome, at, key);
  else {
    sql.exec("UPDATE subsets SET state = 'published', outcome = ?, pinned = ?, updated_at = ? WHERE key = ?",
      result.outcome, JSON.stringify(result.pinned), at, key);
  }
  return true;
}

/**
 * The cron's pass: builds lost before they got a run wait again; failed ones past their retry
 * time, published ones whose tasks `changed` names (the catalogue moved under them), and waiting
 * ones start as the limits allow, most recently requested first. Returns the keys to build now.
 */
export function due(sql: SqlStorage, changed: (pinned: readonly RunTask[]) => boolean, now = new Date()): string[] {
  const at = now.toISOString();
  sql.exec("UPDATE subsets SET state = 'waiting', outcome = 'waiting: its build was lost' WHERE state = 'building' AND run_id IS NULL AND updated_at < ?",
    new Date(now.getTime() - BUILD_LOST_MS).toISOString());
  sql.exec("UPDATE subsets SET state = 'waiting' WHERE state = 'failed' AND updated_at < ?", new Date(now.getTime() - RETRY_FAILED_MS).toISOString());
  for (const row of rows(sql).filter((r) => r.state === "published" && r.pinned && changed(JSON.parse(r.pinned) as RunTask[]))) {
    sql.exec("UPDATE subsets SET state = 'waiting', outcome = 'waiting: the catalogue changed its tasks', updated_at = ? WHERE key = ?", at, row.key);
  }
  const waiting = sql.exec<{ key: string }>("SELECT key FROM subsets WHERE state = 'waiting' ORDER BY touched DESC").toArray().map((r) => r.key);
  return waiting.filter((key) => tryStart(sql, key, now));
}

/** Subsets whose run is going (the cron checks whether it ended without its message arriving). */
export function runsGoing(sql: SqlStorage): { key: string; runId: string }[] {
  return sql.exec<{ key: string; run_id: string }>("SELECT key, run_id FROM subsets WHERE state = 'building' AND run_id IS NOT NULL")
    .toArray().map((r) => ({ key: r.key, runId: r.run_id }));
}

export function tasksOf(sql: SqlStorage, key: string): string[] | null {
  const row = get(sql, key);
  return row ? (JSON.parse(row.tasks) as string[]) : null;
}

/** Every subset, most recently requested first (its release and held-out score are its own objects' to say). */
export function list(sql: SqlStorage): Omit<SubsetView, "release" | "heldOutExactMatch">[] {
  return rows(sql).map((r) => ({
    key: r.key, tasks: JSON.parse(r.tasks) as string[], locales: JSON.parse(r.locales) as string[], apps: JSON.parse(r.apps) as string[], taskSet: r.task_set,
    state: r.state, runId: r.run_id, outcome: r.outcome,
    requests: r.requests, firstRequestedAt: r.first_requested_at, lastRequestedAt: r.last_requested_at,
  }));
}

export function liveKeys(sql: SqlStorage): string[] {
  return sql.exec<{ key: string }>("SELECT key FROM subsets WHERE state != 'retired'").toArray().map((r) => r.key);
}

function rows(sql: SqlStorage): SubsetRow[] {
  return sql.exec<SubsetRow>("SELECT * FROM subsets ORDER BY touched DESC").toArray();
}

function get(sql: SqlStorage, key: string): SubsetRow | null {
  return sql.exec<SubsetRow>("SELECT * FROM subsets WHERE key = ?", key).toArray()[0] ?? null;
}
