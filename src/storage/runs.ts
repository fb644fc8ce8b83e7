import type { ClusterRun } from "../../durable-objects/ClusterRun";

/** One ClusterRun Durable Object per run, named by the run id. */
export function clusterRun(env: Env, runId: string): DurableObjectStub<ClusterRun> {
  return env.CLUSTER_RUN.get(env.CLUSTER_RUN.idFromName(runId));
}
