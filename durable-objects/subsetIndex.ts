/**
 * A profile's per-device task sets (decision 0010), kept in its ProfileSubsets object: which
 * subsets were asked for, by how many distinct networks, and where each one's build stands.
 *
 * The device path is public, so what one phone can do here is bounded (the review of issue 20):
 *   - an operator-named set (`taskSet`) is built on its first request and never evicted by needs;
 *   - a stated need (`locales`/`apps`) is built once `quorum` distinct networks asked for it
 *     (a network: a pseudonym of the device's IPv4 address or IPv6 /64, src/delivery/reporter.ts);
 *   - each network introduces at most NEW_NEEDS_PER_NETWORK new needs a day; past that, or with
 *     MAX_WAITING needs waiting and none of them weaker than a new one, a report writes nothing;
 *   - built needs (published or building) are at most `maxSubsets`; a need with more demand than
 *     the least-demanded published one takes its place, a waiting one never evicts a published one;
 *   - demand is distinct networks over DEMAND_WINDOW_MS, counted up to DEMAND_CAP each.
 * A subset dropped before it was ever released leaves nothing; a released one leaves the
 * subset's own history (durable-objects/SubsetReleases.ts), whose key the caller retires.
 */
import type { RunTask } from "../src/runs/config";
import type { SubsetState, SubsetView } from "../src/delivery/subsetView";
import type { SubsetRequest } from "../src/delivery/subsetMessages";
// Networks counted per need: beyond this a need is simply popular.
import { DEMAND_CAP } from "../src/delivery/profiles";

/** Subset builds going at once per profile: each is a D2C run over the shared Queue. */
export const MAX_BUILDING = 2;
/** Builds started per profile per hour: a flood of new needs cannot buy unbounded compute. */
export const MAX_BUILDS_PER_HOUR = 30;
/** A failed build is tried again after this long, on a request or a cron tick. */
export const RETRY_FAILED_MS = 10 * 60_000;
/** A build with no run this long after it started was lost (its message failed): it waits again. */
export const BUILD_LOST_MS = 10 * 60_000;
/** Stated needs waiting (below quorum or on the build limits) per profile at most. */
export const MAX_WAITING = 64;
/** New needs one network may introduce per profile per day. */
export const NEW_NEEDS_PER_NETWORK = 4;
/** How long a network's request counts as demand. */
export const DEMAND_WINDOW_MS = 7 * 24 * 3600_000;
const DAY_MS = 24 * 3600_000;

/**
 * What a request leads to: build it now (the caller does), and the released subsets the bound
 * retired (the caller retires their releases); `dropped`: a new need refused without a write.
 */
export interface RequestOutcome {
  readonly build: boolean;
  readonly retired: readonly string[];
  readonly dropped?: "network_quota" | "waiting_room_full";
}

/** The limits a profile sets: built stated needs at most, and the networks a need takes before it is built. */
export interface SubsetLimits {
  readonly maxSubsets: number;
  readonly quorum: number;
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
  /** 1 once a release of it was published: dropping it then retires that release. */
  released: number;
  requests: number;
  /** Increases with every request of any subset: the least recently requested has the lowest. */
  touched: number;
  first_requested_at: string;
  last_requested_at: string;
  updated_at: string;
}

export function createSubsetTables(sql: SqlStorage): void {
  sql.exec(
    `
    CREATE TABLE IF NOT EXISTS subsets (
      key TEXT PRIMARY KEY, tasks TEXT NOT NULL, locales TEXT NOT NULL, apps TEXT NOT NULL, task_set TEXT, state ` +
      `TEXT NOT NULL,
      run_id TEXT, outcome TEXT, pinned TEXT, released INTEGER NOT NULL, requests INTEGER NOT NULL,
      touched INTEGER NOT NULL UNIQUE,
      first_requested_at TEXT NOT NULL, last_requested_at TEXT NOT NULL, updated_at TEXT NOT NULL);
    CREATE TABLE IF NOT EXISTS demand (
      key TEXT NOT NULL, network TEXT NOT NULL, seen_at TEXT NOT NULL, PRIMARY KEY (key, network));
    CREATE TABLE IF NOT EXISTS introductions (network TEXT NOT NULL, at TEXT NOT NULL);
    CREATE TABLE IF NOT EXISTS subset_builds (started_at TEXT NOT NULL);`,
  );
}

/**
 * Networks reported a need: counted, and built if the limits allow. A new stated need past its
 * network's daily quota, or with the waiting room full of needs as strong, is dropped without a write.
 */
export function request(sql: SqlStorage, need: SubsetRequest, limits: SubsetLimits, now = new Date()): RequestOutcome {
  const at = now.toISOString();
  const row = get(sql, need.key);
  if (row) {
    sql.exec(
      "UPDATE subsets SET requests = requests + 1, touched = ?, last_requested_at = ? WHERE key = ?",
      nextTouch(sql),
      at,
      need.key,
    );
    countDemand(sql, need.key, need.networks, at);
    if (row.state === "published" || row.state === "building") return { build: false, retired: [] };
    if (row.state === "failed" && now.getTime() - Date.parse(row.updated_at) < RETRY_FAILED_MS)
      return { build: false, retired: [] };
  } else {
    const introducer = need.networks[0];
    if (need.taskSet === undefined) {
      if (introducer === undefined || introductions(sql, introducer, now) >= NEW_NEEDS_PER_NETWORK)
        return { build: false, retired: [], dropped: "network_quota" };
      if (!makeRoom(sql, now)) return { build: false, retired: [], dropped: "waiting_room_full" };
      sql.exec("DELETE FROM introductions WHERE at < ?", new Date(now.getTime() - DAY_MS).toISOString());
      sql.exec("INSERT INTO introductions (network, at) VALUES (?, ?)", introducer, at);
    }
    sql.exec(
      "INSERT INTO subsets (key, tasks, locales, apps, task_set, state, run_id, outcome, pinned, released, requests, " +
        "touched, first_requested_at, last_requested_at, updated_at) " +
        "VALUES (?, ?, ?, ?, ?, 'waiting', NULL, NULL, NULL, 0, 1, ?, ?, ?, ?)",
      need.key,
      JSON.stringify(need.tasks),
      JSON.stringify(need.locales),
      JSON.stringify(need.apps),
      need.taskSet ?? null,
      nextTouch(sql),
      at,
      at,
      at,
    );
    countDemand(sql, need.key, need.networks, at);
  }
  return start(sql, need.key, limits, now);
}

/**
 * Frees a waiting place for a new stated need: the weakest never-released waiting need with demand 1
 * goes; false when none is that weak.
 */
function makeRoom(sql: SqlStorage, now: Date): boolean {
  const waiting = sql
    .exec<{ n: number }>("SELECT count(*) AS n FROM subsets WHERE task_set IS NULL AND state IN ('waiting', 'failed')")
    .one().n;
  if (waiting < MAX_WAITING) return true;
  const weakest = sql
    .exec<{ key: string; d: number }>(
      `
    SELECT s.key, (SELECT count(*) FROM demand d WHERE d.key = s.key AND d.seen_at >= ?) AS d FROM subsets s
    WHERE s.task_set IS NULL AND s.released = 0 AND s.state IN ('waiting', 'failed') ORDER BY d, s.touched LIMIT 1`,
      new Date(now.getTime() - DEMAND_WINDOW_MS).toISOString(),
    )
    .toArray()[0];
  if (!weakest || weakest.d > 1) return false;
  drop(sql, weakest.key);
  return true;
}

/**
 * Starts the subset's build if it may be built now: a named set always, a stated need once it has
 * its quorum and a place among the built ones (taking the place of a weaker published need).
 */
function start(sql: SqlStorage, key: string, limits: SubsetLimits, now: Date): RequestOutcome {
  const row = get(sql, key)!;
  let displaced: string | null = null;
  // A named set is the operator's, and a released need already has its place: only a new need must earn one.
  if (row.task_set === null && row.released === 0) {
    const wants = demandOf(sql, key, now);
    if (wants < limits.quorum) {
      setWaiting(sql, key, `waiting: ${wants} of ${limits.quorum} networks asked for it`);
      return { build: false, retired: [] };
    }
    const built = sql
      .exec<{ n: number }>(
        "SELECT count(*) AS n FROM subsets WHERE task_set IS NULL AND (released = 1 OR state = 'building') " +
          "AND key != ?",
        key,
      )
      .one().n;
    if (built >= limits.maxSubsets) {
      const weakest = weakestPublished(sql, key, now);
      if (!weakest || weakest.demand >= wants) {
        setWaiting(
          sql,
          key,
          `waiting: ${built} needs built (at most ${limits.maxSubsets}), none asked for by fewer than ` +
            `${wants} networks`,
        );
        return { build: false, retired: [] };
      }
      displaced = weakest.key;
    }
  }
  // The weaker set keeps being served unless this build can start now.
  if (!limitsAllow(sql, key, now)) return { build: false, retired: [] };
  if (displaced !== null) drop(sql, displaced);
  sql.exec(
    "UPDATE subsets SET state = 'building', run_id = NULL, outcome = 'building', updated_at = ? WHERE key = ?",
    now.toISOString(),
    key,
  );
  sql.exec("INSERT INTO subset_builds (started_at) VALUES (?)", now.toISOString());
  return { build: true, retired: displaced === null ? [] : [displaced] };
}

/** Whether the profile's build limits allow one more build now; if not, says so in the subset's outcome. */
function limitsAllow(sql: SqlStorage, key: string, now: Date): boolean {
  sql.exec("DELETE FROM subset_builds WHERE started_at < ?", new Date(now.getTime() - 3600_000).toISOString());
  const building = sql.exec<{ n: number }>("SELECT count(*) AS n FROM subsets WHERE state = 'building'").one().n;
  const lastHour = sql.exec<{ n: number }>("SELECT count(*) AS n FROM subset_builds").one().n;
  if (building < MAX_BUILDING && lastHour < MAX_BUILDS_PER_HOUR) return true;
  setWaiting(
    sql,
    key,
    building >= MAX_BUILDING
      ? `waiting: ${building} builds going (at most ${MAX_BUILDING})`
      : `waiting: ${lastHour} builds this hour (at most ${MAX_BUILDS_PER_HOUR})`,
  );
  return false;
}

function setWaiting(sql: SqlStorage, key: string, outcome: string): void {
  sql.exec("UPDATE subsets SET outcome = ? WHERE key = ? AND state = 'waiting'", outcome, key);
}

function weakestPublished(sql: SqlStorage, except: string, now: Date): { key: string; demand: number } | null {
  return (
    sql
      .exec<{ key: string; demand: number }>(
        `
    SELECT s.key, (SELECT count(*) FROM demand d WHERE d.key = s.key AND d.seen_at >= ?) AS demand FROM subsets s
    WHERE s.task_set IS NULL AND s.state = 'published' AND s.key != ? ORDER BY demand, s.touched LIMIT 1`,
        new Date(now.getTime() - DEMAND_WINDOW_MS).toISOString(),
        except,
      )
      .toArray()[0] ?? null
  );
}

function countDemand(sql: SqlStorage, key: string, networks: readonly string[], at: string): void {
  for (const network of networks) {
    const seen = sql.exec("UPDATE demand SET seen_at = ? WHERE key = ? AND network = ?", at, key, network).rowsWritten;
    if (
      seen === 0 &&
      sql.exec<{ n: number }>("SELECT count(*) AS n FROM demand WHERE key = ?", key).one().n < DEMAND_CAP
    ) {
      sql.exec("INSERT INTO demand (key, network, seen_at) VALUES (?, ?, ?)", key, network, at);
    }
  }
}

function demandOf(sql: SqlStorage, key: string, now: Date): number {
  return sql
    .exec<{ n: number }>(
      "SELECT count(*) AS n FROM demand WHERE key = ? AND seen_at >= ?",
      key,
      new Date(now.getTime() - DEMAND_WINDOW_MS).toISOString(),
    )
    .one().n;
}

function introductions(sql: SqlStorage, network: string, now: Date): number {
  return sql
    .exec<{ n: number }>(
      "SELECT count(*) AS n FROM introductions WHERE network = ? AND at >= ?",
      network,
      new Date(now.getTime() - DAY_MS).toISOString(),
    )
    .one().n;
}

function nextTouch(sql: SqlStorage): number {
  return (sql.exec<{ t: number | null }>("SELECT max(touched) AS t FROM subsets").one().t ?? 0) + 1;
}

/** Removes a subset and its demand; its releases, if any, are the caller's to retire. */
function drop(sql: SqlStorage, key: string): void {
  sql.exec("DELETE FROM subsets WHERE key = ?", key);
  sql.exec("DELETE FROM demand WHERE key = ?", key);
}

export function building(sql: SqlStorage, key: string, runId: string): void {
  sql.exec(
    "UPDATE subsets SET run_id = ?, outcome = ?, updated_at = ? WHERE key = ? AND state = 'building'",
    runId,
    `run ${runId} going`,
    new Date().toISOString(),
    key,
  );
}

/**
 * The one caller allowed to publish the run's end: the run's message, or the cron, or the build
 * itself when the run ended before it was recorded (all cached). Released by `built`, or by `unclaim` after an
 * unexpected error.
 */
export function claimFinish(sql: SqlStorage, key: string, runId: string): boolean {
  return (
    sql.exec(
      "UPDATE subsets SET outcome = ? WHERE key = ? AND state = 'building' AND run_id = ? AND outcome != ?",
      `publishing run ${runId}`,
      key,
      runId,
      `publishing run ${runId}`,
    ).rowsWritten > 0
  );
}

export function unclaim(sql: SqlStorage, key: string, runId: string): void {
  sql.exec(
    "UPDATE subsets SET outcome = ? WHERE key = ? AND state = 'building' AND run_id = ?",
    `run ${runId} going`,
    key,
    runId,
  );
}

/** Records a build's end; false when the subset was dropped meanwhile (its release must not be served). */
export function built(sql: SqlStorage, key: string, result: BuildResult): boolean {
  const at = new Date().toISOString();
  if (!get(sql, key)) return false;
  if (result.state === "failed")
    sql.exec("UPDATE subsets SET state = 'failed', outcome = ?, updated_at = ? WHERE key = ?", result.outcome, at, key);
  else {
    sql.exec(
      "UPDATE subsets SET state = 'published', released = 1, outcome = ?, pinned = ?, updated_at = ? WHERE key = ?",
      result.outcome,
      JSON.stringify(result.pinned),
      at,
      key,
    );
  }
  return true;
}

/**
 * The cron's pass: demand older than its window is forgotten; builds lost before they got a run
 * wait again; failed ones past their retry time, published ones whose tasks `changed` names (the
 * catalogue moved under them), and waiting ones start as the limits allow, most recently
 * requested first. Returns the keys to build now and the released subsets retired to make room.
 */
export function due(
  sql: SqlStorage,
  changed: (pinned: readonly RunTask[]) => boolean,
  limits: SubsetLimits,
  now = new Date(),
): { build: string[]; retired: string[] } {
  const at = now.toISOString();
  sql.exec("DELETE FROM demand WHERE seen_at < ?", new Date(now.getTime() - DEMAND_WINDOW_MS).toISOString());
  sql.exec("DELETE FROM introductions WHERE at < ?", new Date(now.getTime() - DAY_MS).toISOString());
  sql.exec(
    "UPDATE subsets SET state = 'waiting', outcome = 'waiting: its build was lost' WHERE state = 'building' " +
      "AND run_id IS NULL AND updated_at < ?",
    new Date(now.getTime() - BUILD_LOST_MS).toISOString(),
  );
  sql.exec(
    "UPDATE subsets SET state = 'waiting' WHERE state = 'failed' AND updated_at < ?",
    new Date(now.getTime() - RETRY_FAILED_MS).toISOString(),
  );
  for (const row of rows(sql).filter(
    (r) => r.state === "published" && r.pinned && changed(JSON.parse(r.pinned) as RunTask[]),
  )) {
    // It serves its last release while it waits: a rebuild keeps its place among the built needs.
    sql.exec(
      "UPDATE subsets SET state = 'waiting', outcome = 'waiting: the catalogue changed its tasks', " +
        "updated_at = ? WHERE key = ?",
      at,
      row.key,
    );
  }
  const build: string[] = [];
  const retired: string[] = [];
  for (const { key } of sql
    .exec<{ key: string }>("SELECT key FROM subsets WHERE state = 'waiting' ORDER BY touched DESC")
    .toArray()) {
    const outcome = start(sql, key, limits, now);
    if (outcome.build) build.push(key);
    retired.push(...outcome.retired);
  }
  return { build, retired };
}

/** Subsets whose run is going (the cron checks whether it ended without its message arriving). */
export function runsGoing(sql: SqlStorage): { key: string; runId: string }[] {
  return sql
    .exec<{ key: string; run_id: string }>(
      "SELECT key, run_id FROM subsets WHERE state = 'building' AND run_id IS NOT NULL",
    )
    .toArray()
    .map((r) => ({ key: r.key, runId: r.run_id }));
}

export function tasksOf(sql: SqlStorage, key: string): string[] | null {
  const row = get(sql, key);
  return row ? (JSON.parse(row.tasks) as string[]) : null;
}

/** One page of the subsets, most recently requested first; `before`: the `touched` the previous page ended at. */
export function list(
  sql: SqlStorage,
  limit: number,
  before?: number,
  now = new Date(),
): { subsets: Omit<SubsetView, "release" | "heldOutExactMatch">[]; next: number | null; total: number } {
  const page = sql
    .exec<SubsetRow>(
      "SELECT * FROM subsets WHERE touched < ? ORDER BY touched DESC LIMIT ?",
      before ?? Number.MAX_SAFE_INTEGER,
      limit + 1,
    )
    .toArray();
  const total = sql.exec<{ n: number }>("SELECT count(*) AS n FROM subsets").one().n;
  const subsets = page.slice(0, limit).map((r) => ({
    key: r.key,
    tasks: JSON.parse(r.tasks) as string[],
    locales: JSON.parse(r.locales) as string[],
    apps: JSON.parse(r.apps) as string[],
    taskSet: r.task_set,
    state: r.state,
    runId: r.run_id,
    outcome: r.outcome,
    released: r.released === 1,
    demand: demandOf(sql, r.key, now),
    requests: r.requests,
    firstRequestedAt: r.first_requested_at,
    lastRequestedAt: r.last_requested_at,
  }));
  return { subsets, next: page.length > limit ? page[limit - 1].touched : null, total };
}

/** Subsets with a release that devices may be served (a released one waiting on a rebuild still serves its last). */
export function releasedKeys(sql: SqlStorage): string[] {
  return sql
    .exec<{ key: string }>("SELECT key FROM subsets WHERE released = 1")
    .toArray()
    .map((r) => r.key);
}

/** The profile is deleted: every subset goes. Returns those with releases, for the caller to retire. */
export function clear(sql: SqlStorage): string[] {
  const released = releasedKeys(sql);
  sql.exec("DELETE FROM subsets; DELETE FROM demand; DELETE FROM introductions; DELETE FROM subset_builds;");
  return released;
}

function rows(sql: SqlStorage): SubsetRow[] {
  return sql.exec<SubsetRow>("SELECT * FROM subsets ORDER BY touched DESC").toArray();
}

function get(sql: SqlStorage, key: string): SubsetRow | null {
  return sql.exec<SubsetRow>("SELECT * FROM subsets WHERE key = ?", key).toArray()[0] ?? null;
}
