/**
 * The device path's side of per-device task sets (issue 14): a stated need becomes a subset of the
 * profile's model's tasks (the edge task list, src/delivery/readModel.ts), and the need is
 * reported to the Queue, never to a Durable Object, so the phone's request does not wait on one.
 * Reports double as "last requested" for the per-profile bound, so they go on while the subset is
 * served, but rarely: each isolate reports a need at most once a minute while it has no release
 * (a lost report only delays the build), once an hour after (the bound needs no finer clock). So
 * the Queue carries at most isolates x needs x 24 reports a day for served needs: 1,000 isolates
 * with 32 hot needs each is 0.77 M messages, about $0.92 a day of Queue operations (3 per message
 * at $0.40 per million, src/runs/price.ts) and $0.12 of the one Durable Object request each makes.
 */
import { readEdge } from "./edgeReads";
import { tasksFor, subsetKey, type DeviceNeed } from "./needs";
import { tasksKey, type ProfileRules, type TasksModel } from "./readModel";
import type { SubsetRequested } from "./subsetMessages";

export interface Subset {
  readonly key: string;
  readonly tasks: readonly string[];
}

/** How often one isolate reports a need, ms: not yet served, and served. SUBSET_REPORT_MS overrides both (tests: 0). */
const REPORT_UNSERVED_MS = 60_000;
const REPORT_SERVED_MS = 3_600_000;
/** Needs remembered per isolate at most (a profile keeps at most 32 subsets; many profiles, many needs). */
const REPORT_MEMO_ENTRIES = 10_000;
const reported = new Map<string, number>();

/** The subset a need covers under this profile, or null (the profile builds none, no task matches, or the edge has no task list for its model yet). */
export async function subsetOf(env: Env, profile: ProfileRules, need: DeviceNeed): Promise<Subset | null> {
  if (!profile.modelId || profile.maxSubsets === 0) return null;
  const tasks = tasksFor(need, (await readEdge<TasksModel>(env, tasksKey(profile.modelId)))?.tasks ?? [], profile.taskSets);
  return tasks.length ? { key: await subsetKey(tasks), tasks } : null;
}

/** Sends the need to the Queue after the response (waitUntil), unless this isolate did so lately; `served`: the subset has a release. */
export function reportNeed(env: Env, ctx: Pick<ExecutionContext, "waitUntil">, profile: string, subset: Subset, need: DeviceNeed, served: boolean): void {
  const memoKey = `${profile}/${subset.key}`;
  const now = Date.now();
  const every = env.SUBSET_REPORT_MS !== undefined ? Number(env.SUBSET_REPORT_MS) : served ? REPORT_SERVED_MS : REPORT_UNSERVED_MS;
  if (now - (reported.get(memoKey) ?? -Infinity) < every) return;
  if (reported.size >= REPORT_MEMO_ENTRIES) reported.clear();
  reported.set(memoKey, now);
  const message: SubsetRequested = { type: "subset-requested", profile, ...subset, locales: need.locales, apps: need.apps, ...(need.taskSet ? { taskSet: need.taskSet } : {}) };
  // A lost report costs only lateness: the next one from any isolate schedules the build.
  ctx.waitUntil(env.EVALUATIONS.send(message).catch((e: unknown) => {
    reported.delete(memoKey);
    console.warn(`need ${memoKey} not reported`, e);
  }));
}
