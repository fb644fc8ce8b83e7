/**
 * When `apply` starts a file's run. The rule: a run entry is current, and nothing is started, when the
 * newest run recorded for its profile (GET /v1/runs, the last 100)
 *   1. did not fail and was not cancelled,
 *   2. started after the profile's last change (its version's updatedAt),
 *   3. started at the catalogue's current version (no adapter or examples changed since),
 *   4. and has the entry's settings: tasks (the patterns matched now), method, seed, maxIterations,
 *      restarts, restartCriterion, merge.method and merge.tune, each left out compared at the server's
 *      default; modelId, evaluator, merge.rank and merge.density when the entry states them.
 * Otherwise a run is started, and the first rule that failed is why.
 */
import { defaultRestarts } from "../src/runs/request.ts";
import type { RunStatus } from "../src/runs/status.ts";
import type { RunEntry } from "./applyConfig.ts";

export interface RunContext {
  /** The newest run recorded for the entry's profile, if any. */
  readonly newest: RunStatus | null;
  /** When the profile last changed; null when this apply creates or changes it (a dry run cannot know when). */
  readonly profileUpdatedAt: string | null;
  readonly catalogueVersion: number;
  /** The entry's task ids, patterns matched against the catalogue. */
  readonly tasks: readonly string[];
}

/** Why the entry needs a new run, or null when the newest run is current. */
export function whyStart(entry: RunEntry, context: RunContext): string | null {
  const run = context.newest;
  if (!run) return `no run of ${entry.profile} among the last 100`;
  if (run.state === "failed" || run.state === "cancelled") return `the newest, ${run.runId}, ${run.state}`;
  if (context.profileUpdatedAt === null) return `profile ${entry.profile} changes`;
  if (Date.parse(run.createdAt) < Date.parse(context.profileUpdatedAt))
    return `profile ${entry.profile} changed after ${run.runId} started`;
  const [was, now] = [run.catalogueVersion, context.catalogueVersion];
  if (was !== now) return `the catalogue changed after ${run.runId} started (version ${was} -> ${now})`;
  const changed = settingChanges(entry, run, context.tasks);
  return changed.length ? `${changed.join(", ")} (the newest is ${run.runId})` : null;
}

/** "field was -> now" for each setting of the entry the run does not have. */
function settingChanges(entry: RunEntry, run: RunStatus, tasks: readonly string[]): string[] {
  const r = entry.request;
  const changes: string[] = [];
  const compare = (field: string, was: unknown, now: unknown) => {
    if (canonical(was) !== canonical(now)) changes.push(`${field} ${show(was)} -> ${show(now)}`);
  };
  const had = [...run.tasks].sort();
  const added = tasks.filter((t) => !had.includes(t));
  const dropped = had.filter((t) => !tasks.includes(t));
  if (added.length + dropped.length)
    changes.push(`tasks ${[...added.map((t) => `+${t}`), ...dropped.map((t) => `-${t}`)].join(" ")}`);
  if (r.modelId !== undefined) compare("modelId", run.modelId, r.modelId);
  compare("method", run.method, r.method);
  compare("seed", run.seed, r.seed);
  // Only D2C iterates and restarts; the server fixes both for the other methods.
  if (r.method === "d2c") {
    compare("maxIterations", run.maxIterations, r.maxIterations);
    compare("restarts", run.restarts, r.restarts ?? defaultRestarts(tasks.length));
  }
  compare("restartCriterion", run.restartCriterion, r.restartCriterion);
  if (r.evaluator !== undefined) compare("evaluator", run.evaluator, r.evaluator);
  compare("merge.method", run.merge.method, r.merge.method);
  for (const p of ["rank", "density"] as const)
    if (r.merge[p] !== undefined) compare(`merge.${p}`, run.merge[p], r.merge[p]);
  compare("merge.tune", run.tune, r.merge.tune ?? null);
  return changes;
}

/** JSON with sorted keys: the same settings compare equal whatever order they were written in. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(",")}]`;
  if (value && typeof value === "object")
    return `{${Object.keys(value)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical((value as Record<string, unknown>)[k])}`)
      .join(",")}}`;
  return JSON.stringify(value ?? null);
}

const show = (value: unknown) => (value === null || value === undefined ? "-" : canonical(value));
