import type { SubsetScope } from "../delivery/subsetView";

// The stubs' types come from Env (worker-configuration.d.ts), so nothing here imports an object's file.

/** One ClusterRun Durable Object per run, named by the run id. */
export function clusterRun(env: Env, runId: string) {
  return env.CLUSTER_RUN.get(env.CLUSTER_RUN.idFromName(runId));
}

/** One Releases Durable Object per device profile, named by the profile id. */
export function releases(env: Env, profileId: string) {
  return env.RELEASES.get(env.RELEASES.idFromName(profileId));
}

/** The index of a profile's per-device task sets, named by the profile id. */
export function profileSubsets(env: Env, profileId: string) {
  return env.PROFILE_SUBSETS.get(env.PROFILE_SUBSETS.idFromName(profileId));
}

/** The releases of one per-device task set of a profile: an object of their own, so a history of their own. */
export function subsetReleases(env: Env, scope: SubsetScope) {
  return env.SUBSET_RELEASES.get(env.SUBSET_RELEASES.idFromName(`${scope.profile}/subsets/${scope.subset}`));
}
