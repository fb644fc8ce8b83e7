/**
 * Building the releases of per-device task sets (issue 14), from the Queue: the device path
 * reports a need, the profile's ProfileSubsets object decides whether to build (deduplicated by
 * key, rate-limited, bounded by demand; durable-objects/subsetIndex.ts), and a build is a D2C run over the
 * subset's tasks whose end publishes the subset's release:
 *   - more tasks than the profile's budget K: K merged adapters, warm-started from the
 *     profile-wide release's clusters restricted to the subset (src/clustering/restrict.ts);
 *   - at most K tasks: each task keeps its own adapter; the run (method "own": each task under its
 *     own adapter, one forward pass each) measures the release's few-shot loss, the adapters ship as uploaded.
 * Runs use the loss and merge caches, so a subset's losses already measured for the profile are not paid again.
 */
import { clustersOf } from "../clustering/assignment";
import { restrictClusters } from "../clustering/restrict";
import { DomainError } from "../errors";
import { AUTO_RUN, profileK, startRun, type RunRequest } from "../runs/start";
import { catalogue } from "../storage/catalogue";
import { clusterRun, profileSubsets, releases, subsetReleases } from "../storage/runs";
import { readEdge } from "../delivery/edgeReads";
import { shipsParts, subsetLimits } from "../delivery/profiles";
import { PROFILES_KEY, type ProfilesModel } from "../delivery/readModel";
import { publishRun } from "./publish";
import type { SubsetRequested } from "../delivery/subsetMessages";

/** A device's need, reported from the edge: the profile's index decides whether to build its set. */
export async function subsetRequested(env: Env, message: SubsetRequested): Promise<void> {
  const { kind: _, profile, ...need } = message;
  // The edge copy of the profiles, not the Catalogue: a report is one Durable Object call, its index's.
  const rules = (await readEdge<ProfilesModel>(env, PROFILES_KEY))?.profiles.find((p) => p.id === profile);
  if (!rules || rules.maxSubsets === 0) return; // deleted since, or builds no subsets
  const { build, retired } = await profileSubsets(env, profile).request(
    { ...need, networks: need.networks ?? [] },
    subsetLimits(rules),
  ); // reports queued before networks were counted have none
  await retireSubsets(env, profile, retired);
  if (build) await buildSubset(env, profile, need.key);
}

/**
 * Takes released subsets the index dropped off the device path: only their own keys change, the
 * profile's release stays served.
 */
export async function retireSubsets(env: Env, profile: string, keys: readonly string[]): Promise<void> {
  for (const subset of keys) await subsetReleases(env, { profile, subset }).retire({ profile, subset });
}

/**
 * Starts the subset's run (the index has marked it building); a build that cannot start is recorded as failed. Returns
 * what it did.
 */
export async function buildSubset(env: Env, profileId: string, key: string): Promise<string> {
  const index = profileSubsets(env, profileId);
  try {
    const tasks = (await index.tasksOf(key))!;
    const profile = (await catalogue(env).profiles()).find((p) => p.id === profileId);
    const model = profile && (await catalogue(env).model(profile.modelId));
    if (!profile || !model) return failedBuild(index, key, `not built: profile ${profileId} or its model is gone`);
    // A parts profile spends its whole budget on the set's tasks alone.
    if (shipsParts(profile)) {
      const run = await startRun(env, { ...AUTO_RUN, method: "alloc", profile: profileId, tasks }, undefined, {
        profile: profileId,
        key,
      });
      return startedBuild(env, index, profileId, key, run);
    }
    const k = profileK(profile, model, tasks.length);
    const own = tasks.length <= k;
    const release = own ? null : await releases(env, profileId).latest(profileId);
    const start = release && restrictClusters(release.clusters, tasks, k);
    const clusters = start ? clustersOf(start).map((members) => members.map((i) => tasks[i])) : undefined;
    const request: RunRequest = { ...AUTO_RUN, ...(own ? { method: "own" } : {}), profile: profileId, tasks };
    return startedBuild(
      env,
      index,
      profileId,
      key,
      await startRun(env, request, clusters && { clusters }, { profile: profileId, key }),
    );
  } catch (e) {
    if (!(e instanceof DomainError)) throw e;
    return failedBuild(index, key, `not built: ${e.message}`);
  }
}

async function startedBuild(
  env: Env,
  index: ReturnType<typeof profileSubsets>,
  profileId: string,
  key: string,
  run: { runId: string; k: number; tasks: number },
): Promise<string> {
  await index.building(key, run.runId);
  // A run whose every loss was cached can end before it was recorded above: its message then found nothing to finish.
  if ((await clusterRun(env, run.runId).status())?.state !== "running")
    return finishSubsetRun(env, profileId, key, run.runId);
  return `started run ${run.runId} (K=${run.k}, ${run.tasks} tasks)`;
}

/**
 * The subset's run ended: its release is published, or the failure recorded. Called by the run's
 * message, the cron, or the build; exactly one of them claims it (the others return).
 */
export async function finishSubsetRun(env: Env, profileId: string, key: string, runId: string): Promise<string> {
  const index = profileSubsets(env, profileId);
  const stub = clusterRun(env, runId);
  const run = await stub.status();
  if (run?.state === "running") return `run ${runId} still going`;
  if (!(await index.claimFinish(key, runId)))
    return `run ${runId} is not building subset ${key}, or another call is publishing it`;
  try {
    if (run?.state !== "done")
      return await failedBuild(index, key, `run ${runId} ${run?.state ?? "missing"}: ${run?.reason ?? ""}`);
    const release = await publishRun(env, env.BUCKET, profileId, runId, 100, { key, tasks: run.tasks });
    const published = await index.built(key, {
      state: "published",
      pinned: (await stub.config())!.tasks,
      outcome: `published release ${release.version} from run ${runId}`,
    });
    // Retired while its run went: the release stays in its history, never served.
    if (!published) await retireSubsets(env, profileId, [key]);
    return `published subset ${key} release ${release.version}`;
  } catch (e) {
    if (e instanceof DomainError) return failedBuild(index, key, `not published: ${e.message}`);
    await index.unclaimFinish(key, runId);
    throw e;
  }
}

async function failedBuild(index: ReturnType<typeof profileSubsets>, key: string, outcome: string): Promise<string> {
  await index.built(key, { state: "failed", outcome });
  return outcome;
}
