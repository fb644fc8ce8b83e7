/**
 * A D2C run's policy (src/clustering/policy.ts) as its tables hold it: the settings from the
 * run's config, the state of an iteration, and the trajectory's earlier iterations that rank a
 * pruned one. The ClusterRun object plans, reassigns, widens and ends through these alone; a
 * baseline's and an alloc run's iterations are decided here too.
 */
import { objective, placeNewTasks, type LossMatrix } from "../src/clustering/d2c";
import {
  keptIteration,
  step,
  type Measured,
  type PolicySettings,
  type PolicyState,
  type Step,
} from "../src/clustering/policy";
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

/** The reassign phase's decision over the iteration's losses: widen, next, restart or done. */
export function reassignStep(sql: SqlStorage, config: RunConfig, iteration: number): Step {
  const losses = iterationLosses(sql, config, iteration);
  if (config.method !== "d2c") return baselineStep(sql, config, iteration, losses);
  const state = policyState(sql, config, iteration);
  // Only a restart's k-means start reads the similarities.
  const restarting = state.restart + 1 < (config.restarts ?? 1);
  const similarity = restarting ? tables.readSimilarity(sql, config.tasks.length) : null;
  return step(policySettings(config), state, losses, similarity);
}

/**
 * A baseline evaluates its start once (new tasks placed); an alloc run measures one part
 * configuration per iteration, all of them, every task alone.
 */
function baselineStep(sql: SqlStorage, config: RunConfig, iteration: number, losses: LossMatrix): Step {
  const assignment = placeNewTasks(losses, tables.assignmentOf(sql, iteration));
  const scored = { assignment, objective: objective(losses, assignment) };
  if (config.parts && iteration + 1 < config.maxIterations) {
    return { decision: "next", scored, state: { restart: 0, iteration: iteration + 1, assignment, full: true } };
  }
  return { decision: "done", scored, fixedPoint: true };
}

/**
 * The iteration the run keeps, as the policy keeps it: its lowest J, or with restarts, the best
 * iteration of the trajectory `keptRestart` picks by the run's criterion: few-shot exact match by default,
 * which needs every kept unit's exact match (losses cached before it was kept have none: then J decides).
 */
export function keptIterationOf(sql: SqlStorage, config: RunConfig): number {
  const iterations = sql
    .exec<{ objective: number; exact_match: number | null }>(
      "SELECT objective, exact_match FROM iterations ORDER BY iteration",
    )
    .toArray();
  const restartOf = tables.restartOfIterations(sql);
  return keptIteration(
    iterations.map((it, i) => ({ restart: restartOf(i), objective: it.objective })),
    config.restartCriterion ?? "exactMatch",
    (i) => iterations[i].exact_match,
  );
}
