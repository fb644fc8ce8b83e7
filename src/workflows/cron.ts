/**
 * The cron trigger (wrangler.toml [triggers]): for every profile marked autoRecluster, finish
 * what the last tick started (publish the run, or record why not) or, when the catalogue has
 * changed since the profile's release, start one D2C run warm-started from that release.
 * A profile whose run is still going is left alone. Current manifests are re-signed before
 * they expire, and the device path's read model is written again (a repair, should a write after
 * a change have failed). Every profile's per-device task sets are refreshed (src/delivery/subsetBuilds.ts).
 */
import { DomainError } from "../errors";
import { publishRun } from "./publish";
import type { StoredProfile } from "../delivery/profiles";
import { AUTO_RUN, startRun } from "../runs/start";
import { catalogue } from "../storage/catalogue";
import { clusterRun, profileSubsets, releases, subsetReleases } from "../storage/runs";
import { buildSubset, finishSubsetRun, retireSubsets } from "./subsetBuilds";
import { shipsParts, subsetLimits } from "../delivery/profiles";
import type { TaskRecord } from "../catalogue/task";
import { sweepPushedFiles } from "../models/pushedFiles";

export async function scheduled(controller: ScheduledController, env: Env): Promise<void> {
  const profiles = (await catalogue(env).profiles()).filter((p) => p.autoRecluster);
  for (const profile of profiles) {
    try {
      console.log(`cron ${controller.cron}: profile ${profile.id}: ${await recluster(env, profile)}`);
    } catch (e) {
      console.error(`cron: profile ${profile.id} failed`, e);
    }
  }
  const all = await catalogue(env).profiles();
  const { tasks } = await catalogue(env).list();
  for (const profile of all) {
    const stub = releases(env, profile.id);
    await stub.refreshExpiry(profile.id);
    // Repairs the edge read model if a write after a change failed (the change stood).
    await stub.publish(profile.id);
    try {
      const done = await refreshSubsets(env, profile, tasks);
      if (done.length) console.log(`cron ${controller.cron}: profile ${profile.id}: ${done.join("; ")}`);
    } catch (e) {
      console.error(`cron: subsets of profile ${profile.id} failed`, e);
    }
  }
  await catalogue(env).publishProfiles();
  await catalogue(env).publishTasks();
  for (const done of await sweepPushedFiles(env)) console.log(`cron ${controller.cron}: ${done}`);
}

/**
 * The profile's per-device task sets: runs that ended without their message are finished, builds
 * that are due (tasks changed in the catalogue, failed past their retry time, waiting on the
 * limits, lost) start, and live subsets' manifests are re-signed before they expire and re-published.
 */
export async function refreshSubsets(
  env: Env,
  profile: StoredProfile,
  tasks: readonly TaskRecord[],
): Promise<string[]> {
  const index = profileSubsets(env, profile.id);
  const done: string[] = [];
  for (const { key, runId } of await index.runsGoing()) done.push(await finishSubsetRun(env, profile.id, key, runId));
  const due = await index.due(tasks, subsetLimits(profile));
  await retireSubsets(env, profile.id, due.retired);
  for (const key of due.build) done.push(`subset ${key}: ${await buildSubset(env, profile.id, key)}`);
  for (const subset of await index.releasedKeys()) {
    const stub = subsetReleases(env, { profile: profile.id, subset });
    await stub.refreshExpiry({ profile: profile.id, subset });
    await stub.publish({ profile: profile.id, subset });
  }
  return done.filter((d) => !d.endsWith("still going"));
}

/** One tick for one profile; returns what it did, for the log. */
export async function recluster(env: Env, profile: StoredProfile): Promise<string> {
  const stub = releases(env, profile.id);
  const auto = await stub.autoState();
  if (auto?.runId && auto.outcome === null) {
    const run = await clusterRun(env, auto.runId).status();
    if (run?.state === "running") return `run ${auto.runId} still going`;
    const outcome =
      run?.state === "done"
        ? await decide(env, profile, auto.runId)
        : `run ${auto.runId} ${run?.state ?? "missing"}: ${run?.reason ?? ""}`;
    await stub.setAutoState({ ...auto, outcome });
    return outcome;
  }
  const catalogueVersion = await catalogue(env).version;
  const release = await stub.latest(profile.id);
  if (release && release.catalogueVersion >= catalogueVersion) return "release is current";
  if (auto && auto.catalogueVersion >= catalogueVersion)
    return `catalogue ${catalogueVersion} already tried: ${auto.outcome}`;
  let started;
  try {
    // A parts profile's run is an allocation, which starts from nothing to warm.
    if (shipsParts(profile)) started = await startRun(env, { ...AUTO_RUN, method: "alloc", profile: profile.id });
    else
      started = await startRun(
        env,
        { ...AUTO_RUN, profile: profile.id },
        release ? { clusters: release.clusters } : undefined,
      );
  } catch (e) {
    // The release's clusters no longer fit (K changed, a cluster lost all its tasks): start cold.
    if (!(e instanceof DomainError && e.code === "cannot_warm_start")) throw e;
    started = await startRun(env, { ...AUTO_RUN, profile: profile.id });
  }
  await stub.setAutoState({ runId: started.runId, catalogueVersion, outcome: null });
  return (
    `started run ${started.runId} (K=${started.k}, ${started.tasks} ` +
    `tasks${release ? `, warm from release ${release.version}` : ""})`
  );
}

/**
 * Publish only if the run serves every task of the catalogue and its few-shot objective is no
 * worse than the old release's clusters re-evaluated on today's catalogue: iteration 0 of a
 * warm-started run is exactly that evaluation.
 */
async function decide(env: Env, profile: StoredProfile, runId: string): Promise<string> {
  const run = (await clusterRun(env, runId).status())!;
  const { tasks } = await catalogue(env).list();
  const unserved = tasks.filter(
    (t) => t.modelId === profile.modelId && t.examples.fewshot > 0 && !(t.id in run.result!.assignment),
  );
  if (unserved.length) return `not published: run ${runId} does not serve ${unserved.map((t) => t.id).join(", ")}`;
  const warm = (await releases(env, profile.id).latest(profile.id)) !== null;
  const before = run.iterations[0].objective!;
  if (warm && run.result!.objective > before)
    return `not published: J ${run.result!.objective.toFixed(4)} is worse than the release's ${before.toFixed(4)}`;
  let release;
  try {
    release = await publishRun(env, env.BUCKET, profile.id, runId);
  } catch (e) {
    // Refused (the catalogue changed under the run, the budget): recorded as the outcome, so the
    // next tick starts afresh instead of retrying this run forever.
    if (e instanceof DomainError && (e.kind === "conflict" || e.kind === "unprocessable"))
      return `not published: ${e.message}`;
    throw e;
  }
  return (
    `published release ${release.version} (J ` +
    `${run.result!.objective.toFixed(4)}${warm ? `, release's clusters ${before.toFixed(4)}` : ""})`
  );
}
