/**
 * The D2C policy (DESIGN.md, "D2C"), once: which (task, cluster) pairs an iteration evaluates,
 * what its losses decide (widen the iteration to a full sweep, the next iteration, the next
 * seeded start, or done), and the iteration a run keeps. Pure and serialisable, so the offline
 * experiment (`runD2C`, losses from an evaluate function) and the ClusterRun Durable Object
 * (losses from queue units, one phase per alarm) drive the same functions step by step:
 *
 *   state = startState(settings, start, similarity !== null)
 *   loop: pairs = plan(settings, state, earlier, similarity, losses); evaluate them into losses
 *         s = step(settings, state, losses, similarity)
 *         widen: state = s.state, plan again (same iteration); next | restart: record, state = s.state; done: stop
 */
import { clustersOf, sameAssignment, type Assignment } from "./assignment";
import { objective, placeNewTasks, type LossMatrix } from "./d2c";
import { argmin, kmeans } from "./kmeans";
import {
  candidateClusters,
  DEFAULT_PRUNE,
  fullFirstByDefault,
  lossRanking,
  reassignPartial,
  similarityRanking,
  type PruneSettings,
  type Ranking,
} from "./pruned";
import { keptRestart, restartSeeds, type RestartCriterion } from "../tuning/restarts";

/**
 * How a task's other clusters are ranked in a pruned iteration. "stale" (default): the last loss
 * measured under the cluster's current members, else the last loss measured under the same
 * cluster label (its merge has changed since, usually by a few members), else similarity.
 * "loss": the valid loss, else similarity (unmeasured clusters first). "similarity":
 * `similarityRanking` only. Measured on the reference world, m = 2 (bench/scale.ts --ranking):
 * "stale" reached full D2C's J at K = 5 in 649 forward passes (full: 1040), "loss" 776 at a
 * worse J, "similarity" 748 at a worse J.
 */
export type RankingKind = "loss" | "similarity" | "stale";

export interface PolicySettings {
  readonly n: number;
  readonly k: number;
  /** null: the full schedule (every task under every cluster every iteration). */
  readonly prune: PruneSettings | null;
  /** Iterations of one trajectory at most (a widened iteration is still one). */
  readonly maxIterations: number;
  /** Default "stale". */
  readonly ranking?: RankingKind;
  /** Seeded starts, the first the run's own (`restartSeeds`); default 1, the plain run. */
  readonly restarts?: number;
  /** The run's seed, whose `restartSeeds` seed the later starts' k-means; needed when restarts > 1. */
  readonly seed?: number;
}

/** Where a run is (plain data: the Worker stores it in its tables, the experiment in a variable). */
export interface PolicyState {
  /** The trajectory: 0 is the run's own start, r the r-th restart. */
  readonly restart: number;
  /** The iteration within the trajectory, from 0. */
  readonly iteration: number;
  /** The assignment evaluated; -1 for a new task of a warm start, placed by this iteration's losses. */
  readonly assignment: Assignment;
  /** Whether this iteration evaluates every task under every cluster (a widened one does). */
  readonly full: boolean;
}

/** An earlier iteration of the trajectory, as ranking reads it. */
export interface Measured {
  /** The members of each cluster label, as merged. */
  readonly clusters: readonly (readonly number[])[];
  /** losses[task][cluster]; NaN where it was not evaluated. */
  readonly losses: LossMatrix;
}

/** An iteration's outcome: the assignment it scored (new tasks placed) and its J. */
export interface Scored {
  readonly assignment: Assignment;
  readonly objective: number;
}

export type Step =
  /** No move among the candidates: evaluate the rest of this iteration before believing it. */
  | { readonly decision: "widen"; readonly state: PolicyState }
  | { readonly decision: "next"; readonly scored: Scored; readonly state: PolicyState }
  /** The trajectory ended (`fixedPoint` as for done); the next seeded start follows. */
  | { readonly decision: "restart"; readonly scored: Scored; readonly fixedPoint: boolean; readonly state: PolicyState }
  /** `fixedPoint`: the trajectory ended on a full sweep that moved nothing (not on maxIterations). */
  | { readonly decision: "done"; readonly scored: Scored; readonly fixedPoint: boolean };

/**
 * A trajectory's first iteration. It is pruned only where the rule of pruned.ts wants it and it
 * can be ranked: by task similarity (nothing is known of its losses yet), every task placed.
 */
export function startState(
  settings: PolicySettings,
  start: Assignment,
  hasSimilarity: boolean,
  restart = 0,
): PolicyState {
  const { prune } = settings;
  const full =
    prune === null ||
    !hasSimilarity ||
    start.includes(-1) ||
    (prune.fullFirst ?? fullFirstByDefault(settings.n, settings.k));
  return { restart, iteration: 0, assignment: start, full };
}

/** The k-means seed of restart `restart` (0: the run's own). */
export function restartSeed(settings: PolicySettings, restart: number): number {
  if (settings.seed === undefined) throw new RangeError("restarts need the run's seed");
  return restartSeeds(settings.seed, restart + 1)[restart];
}

/** Restart `restart`'s first iteration: k-means on the task similarities with its seed. */
export function restartState(settings: PolicySettings, restart: number, similarity: Float64Array): PolicyState {
  const start = kmeans(similarity, settings.n, settings.k, restartSeed(settings, restart));
  return startState(settings, start, true, restart);
}

/**
 * The pairs still to evaluate this iteration, task-major and each task's clusters ascending: every
 * pair when the iteration is full, else each task's own cluster and its m best-ranked others;
 * pairs already in `evaluated` (not NaN) are left out, so a widened iteration asks for the rest.
 */
export function plan(
  settings: PolicySettings,
  state: PolicyState,
  earlier: readonly Measured[],
  similarity: Float64Array | null,
  evaluated?: LossMatrix,
): [task: number, cluster: number][] {
  const { n, k } = settings;
  const all = Array.from({ length: k }, (_, c) => c);
  const candidates = state.full
    ? state.assignment.map(() => all)
    : candidateClusters(
        state.assignment,
        k,
        rankingOf(settings, state, earlier, similarity),
        settings.prune ?? DEFAULT_PRUNE,
        false,
      );
  if (candidates.length !== n) throw new RangeError(`the assignment has ${candidates.length} tasks, the run ${n}`);
  return candidates.flatMap((cs, t) =>
    cs.filter((c) => Number.isNaN(evaluated?.[t]?.[c] ?? NaN)).map((c): [number, number] => [t, c]),
  );
}

/**
 * How a pruned iteration ranks each task's other clusters, from the trajectory's earlier
 * iterations (in order: a later loss replaces an earlier one) and the task similarities.
 */
export function rankingOf(
  settings: PolicySettings,
  state: PolicyState,
  earlier: readonly Measured[],
  similarity: Float64Array | null,
): Ranking {
  const { n, k } = settings;
  const kind = settings.ranking ?? "stale";
  const fallback: Ranking = similarity
    ? similarityRanking(similarity, n, state.assignment, k)
    : (task, cluster) => {
        throw new RangeError(
          `ranking cluster ${cluster} for task ${task} needs the task similarities, and the run has none`,
        );
      };
  if (kind === "similarity") return fallback;
  const known = new Map<string, number>(); // `${members}|${task}` -> last loss under that merge
  const byLabel = new Map<string, number>(); // `${cluster label}|${task}` -> last loss, merge possibly changed since
  for (const m of earlier) {
    const keys = m.clusters.map((members) => members.join(","));
    m.losses.forEach((row, t) =>
      row.forEach((loss, c) => {
        if (Number.isNaN(loss)) return;
        known.set(`${keys[c]}|${t}`, loss);
        byLabel.set(`${c}|${t}`, loss);
      }),
    );
  }
  const keys = clustersOf(state.assignment, k).map((members) => members.join(","));
  return lossRanking(
    (t, c) => known.get(`${keys[c]}|${t}`),
    fallback,
    kind === "stale" ? (t, c) => byLabel.get(`${c}|${t}`) : undefined,
  );
}

/**
 * What an iteration's losses (NaN where not evaluated) decide. New tasks (-1) go to their best
 * cluster first; each task then moves to its argmin among the clusters it was evaluated under.
 * A pruned iteration that moves nothing is widened; a full one that moves nothing is a fixed
 * point; the trajectory also ends at maxIterations; a trajectory that ended is followed by the
 * next seeded start while restarts remain (which needs the similarities).
 */
export function step(
  settings: PolicySettings,
  state: PolicyState,
  losses: LossMatrix,
  similarity: Float64Array | null = null,
): Step {
  const assignment = placeNewTasks(losses, state.assignment);
  const next = reassignPartial(losses, assignment);
  const settled = sameAssignment(next, assignment);
  if (settled && !state.full) return { decision: "widen", state: { ...state, full: true } };
  const scored = { assignment, objective: objective(losses, assignment) };
  if (!settled && state.iteration + 1 < settings.maxIterations) {
    return {
      decision: "next",
      scored,
      state: { ...state, iteration: state.iteration + 1, assignment: next, full: settings.prune === null },
    };
  }
  if (state.restart + 1 >= (settings.restarts ?? 1)) return { decision: "done", scored, fixedPoint: settled };
  if (!similarity) throw new RangeError("a restart's k-means start needs the task similarities, and the run has none");
  return {
    decision: "restart",
    scored,
    fixedPoint: settled,
    state: restartState(settings, state.restart + 1, similarity),
  };
}

/** An iteration of a run, for choosing the one it keeps. */
export interface KeptCandidate {
  readonly restart: number;
  readonly objective: number;
}

/** Each trajectory's best iteration (lowest J, the first of equals), by restart: indices into `iterations`. */
export function trajectoryBests(iterations: readonly KeptCandidate[]): number[] {
  const restarts = [...new Set(iterations.map((i) => i.restart))].sort((a, b) => a - b);
  return restarts.map((r) => {
    const own = iterations.flatMap((it, i) => (it.restart === r ? [i] : []));
    return own[argmin(own.map((i) => iterations[i].objective))];
  });
}

/**
 * The iteration a run keeps: its lowest J, or with restarts, the best iteration of the trajectory
 * `keptRestart` picks by `criterion`. `exactMatch(i)`: few-shot exact match of iteration i's
 * assignment, asked only of the trajectories' bests; where one has none (a loss cached before
 * exact match was kept), J decides.
 */
export function keptIteration(
  iterations: readonly KeptCandidate[],
  criterion: RestartCriterion,
  exactMatch: (iteration: number) => number | null,
): number {
  const bests = trajectoryBests(iterations);
  if (bests.length === 1) return bests[0];
  const matches = bests.map(exactMatch);
  const decided = matches.every((m) => m !== null) ? criterion : "loss";
  return bests[
    keptRestart(
      bests.map((i, r) => ({ objective: iterations[i].objective, fewShotExactMatch: matches[r] ?? NaN })),
      decided,
    )
  ];
}
