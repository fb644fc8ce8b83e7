import { counted } from "./objectStubs";
import type { ClusterRun } from "../../durable-objects/ClusterRun";
import type { Releases } from "../../durable-objects/Releases";

/** One ClusterRun Durable Object per run, named by the run id. */
export function clusterRun(env: Env, runId: string): DurableObjectStub<ClusterRun> {
  return counted(env.CLUSTER_RUN.get(env.CLUSTER_RUN.idFromName(runId)));
}

/** One Releases Durable Object per device profile, named by the profile id. */
export function releases(env: Env, profileId: string): DurableObjectStub<Releases> {
  return counted(env.RELEASES.get(env.RELEASES.idFromName(profileId)));
}

/** The releases of one per-device task set of a profile (issue 14): an object of their own, so a history of their own. */
export function subsetReleases(env: Env, profileId: string, subset: string): DurableObjectStub<Releases> {
  return counted(env.RELEASES.get(env.RELEASES.idFromName(`${profileId}/subsets/${subset}`)));
}
