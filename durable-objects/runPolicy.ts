/**
 * A D2C run's policy (src/clustering/policy.ts) as its tables hold it: the settings from the
 * run's config, the state of an iteration, and the trajectory's earlier iterations that rank a
 * pruned one. The ClusterRun object plans, reassigns, widens and ends through these alone.
 */
import type { LossMatrix } from "../src/clustering/d2c";
import type { Measured, PolicySettings, PolicyState } from "../src/clustering/policy";
import type { RunConfig } from "../src/runs/config";
import * as tables from "./runTables";

export function policySettings(config: RunConfig): PolicySettings {
  return {
    n: config.tasks.length,
    k: config.k,
    prune: config.prune ?? null,
    maxIterations: config.maxIterations,
    restarts: config.restarts ?? 1,
    seed: config.seed,
  };
}

/** The policy's state at `iteration` (the run's current one: its trajectory is the last started). */
export function policyState(sql: SqlStorage, config: RunConfig, iteration: number): PolicyState {
  const trajectory = tables.currentRestart(sql, config.seed);
  return {
    restart: trajectory.restart,
    iteration: iteration - trajectory.firstIteration,
    assignment: tables.assignmentOf(sql, iteration),
    full: tables.isFullIteration(sql, iteration),
  };
}

/** The iteration's losses so far, NaN where no unit has reported (or none was planned). */
export function iterationLosses(sql: SqlStorage, config: RunConfig, iteration: number): number[][] {
  const losses = config.tasks.map(() => new Array<number>(config.k).fill(NaN));
  for (const u of tables.unitsOfIteration(sql, iteration)) if (u.loss !== null) losses[u.task][u.cluster] = u.loss;
  return losses;
}

/** This trajectory's iterations before `iteration`, in order: a restart ranks as a run from its own start would. */
export function earlierIterations(sql: SqlStorage, config: RunConfig, iteration: number): Measured[] {
  const from = tables.currentRestart(sql, config.seed).firstIteration;
  const earlier: { clusters: number[][]; losses: LossMatrix }[] = [];
  for (let i = from; i < iteration; i++) {
    // The members as merged: a warm start's new tasks are in no cluster of its first iteration.
    const clusters = tables.clustersOfIteration(sql, i).map((c) => JSON.parse(c.members) as number[]);
    earlier.push({ clusters, losses: iterationLosses(sql, config, i) });
  }
  return earlier;
}
