/**
 * The device path's side of per-device task sets (issue 14): a stated need becomes a subset of the
 * profile's model's tasks (the edge task list, src/delivery/readModel.ts), and the need is
 * reported to the Queue, never to a Durable Object, so the phone's request does not wait on one.
 * Reports are the need's demand (the distinct networks that asked, durable-objects/subsetIndex.ts),
 * so they go on while the subset is served, but rarely: each isolate reports a need at most once a
 * minute while it has no release (a lost report only delays the build), once an hour after, with
 * the networks that asked in between (the bound needs no finer clock). So
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
/** Needs remembered per isolate at most (a profile keeps at most 256 built subsets; many profiles, many needs). */
const REPORT_MEMO_ENTRIES = 10_000;
/** Networks one report carries at most: enough to reach any quorum, and the demand of the next report. */
export const REPORT_NETWORKS = 16;
/**
 * Tasks a stated need may cover and still get a subset of its own: a build is a run over its
 * tasks, and a device's request must not buy an arbitrarily large one. A larger need gets the
 * profile-wide release; operators name larger sets in the profile (`taskSets`, up to 64 tasks).
 */
export const MAX_NEED_TASKS = 16;

/** Per need: when this isolate last reported it, and the networks that asked since. */
const reported = new Map<string, { at: number; networks: Set<string> }>();

/**
 * The subset a need covers under this profile, or null (the profile builds none, no task matches,
 * a stated need covers more than MAX_NEED_TASKS, or the edge has no task list for its model yet).
 */
export async function subsetOf(env: Env, profile: ProfileRules, need: DeviceNeed): Promise<Subset | null> {
  if (!profile.modelId || profile.maxSubsets === 0) return null;
  const tasks = tasksFor(
    need,
    (await readEdge<TasksModel>(env, tasksKey(profile.modelId)))?.tasks ?? [],
    profile.taskSets,
  );
  if (tasks.length === 0 || (need.taskSet === undefined && tasks.length > MAX_NEED_TASKS)) return null;
  return { key: await subsetKey(tasks), tasks };
}

/**
 * Sends the need to the Queue after the response (waitUntil) with the networks that asked since
 * this isolate last did, unless it did so lately; `served`: the subset has a release. Work per
 * request is one map lookup; the Queue sees at most one message per need per isolate per period.
 */
export function reportNeed(
  env: Env,
  ctx: Pick<ExecutionContext, "waitUntil">,
  profile: string,
  subset: Subset,
  need: DeviceNeed,
  network: string,
  served: boolean,
): void {
  const memoKey = `${profile}/${subset.key}`;
  const now = Date.now();
  const every =
    env.SUBSET_REPORT_MS !== undefined ? Number(env.SUBSET_REPORT_MS) : served ? REPORT_SERVED_MS : REPORT_UNSERVED_MS;
  let memo = reported.get(memoKey);
  if (!memo) {
    if (reported.size >= REPORT_MEMO_ENTRIES) reported.clear();
    memo = { at: -Infinity, networks: new Set() };
    reported.set(memoKey, memo);
  }
  if (memo.networks.size < REPORT_NETWORKS) memo.networks.add(network);
  if (now - memo.at < every) return;
  const networks = [network, ...[...memo.networks].filter((n) => n !== network)];
  memo.at = now;
  memo.networks = new Set();
  const message: SubsetRequested = {
    kind: "subset-requested",
    profile,
    ...subset,
    locales: need.locales,
    apps: need.apps,
    ...(need.taskSet ? { taskSet: need.taskSet } : {}),
    networks,
  };
  // A lost report costs only lateness: the next one from any isolate schedules the build.
  ctx.waitUntil(
    env.EVALUATIONS.send(message).catch((e: unknown) => {
      reported.delete(memoKey);
      console.warn(`need ${memoKey} not reported`, e);
    }),
  );
}
