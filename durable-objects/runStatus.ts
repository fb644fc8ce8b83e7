/**
 * The run as `GET /v1/runs/:id` shows it (types in src/runs/status.ts), read from the run's
 * tables: a summary sized by K and the result, never by the loss matrix, which `lossPage`
 * serves a page of tasks at a time.
 */
import type {
  ClusterView,
  IterationView,
  LossPage,
  LossRow,
  MergedClusterView,
  ReportView,
  RunResult,
  RunStatus,
  TunedCluster,
} from "../src/runs/status";
import { estimateCost } from "../src/runs/price";
import * as tables from "./runTables";
import type { StoredRun } from "./runTables";
import type { RunConfig } from "../src/runs/config";

/** What merge tuning holds for the status: its choices per cluster label, and its usage. */
export interface TuningView {
  readonly clusters: ReadonlyMap<
    number,
    TunedCluster & { sha256: string; bytes: number; rank: number; losses: readonly (readonly number[])[] }
  >;
  readonly usage: { readonly candidates: number; readonly forwardPasses: number; readonly ms: number };
}

export function runStatus(
  sql: SqlStorage,
  run: StoredRun,
  report: ReportView | null,
  similarity: RunStatus["cost"]["similarity"],
  tuning: TuningView,
): RunStatus {
  const config = run.parsed;
  const ids = config.tasks.map((t) => t.id);
  const restartOf = tables.restartOfIterations(sql);
  const iterations = sql
    .exec<{ iteration: number; objective: number | null; exact_match: number | null; full: number }>(
      "SELECT iteration, objective, exact_match, full FROM iterations ORDER BY iteration",
    )
    .toArray()
    .map((row): IterationView => {
      const counts = tables.unitCounts(sql, row.iteration);
      const clusters = tables.clustersOfIteration(sql, row.iteration).map(
        (c): MergedClusterView => ({
          cluster: c.cluster,
          size: (JSON.parse(c.members) as number[]).length,
          sha256: c.sha256,
          bytes: c.bytes,
          rank: c.rank,
        }),
      );
      return {
        iteration: row.iteration,
        restart: restartOf(row.iteration),
        objective: row.objective,
        fewShotExactMatch: row.exact_match,
        full: row.full === 1,
        units: counts?.total ?? 0,
        evaluated: counts ? counts.total - counts.pending : 0,
        clusters,
      };
    });
  const units = sql
    .exec<{ source: string; evaluated: number; n: number }>(
      "SELECT source, loss IS NOT NULL AS evaluated, count(*) AS n FROM units GROUP BY source, evaluated",
    )
    .toArray();
  const count = (source: string) => units.filter((u) => u.source === source).reduce((s, u) => s + u.n, 0);
  // What the evaluator counted, once per unit (a duplicate delivery is never evaluated, see claimUnit).
  const queued = sql
    .exec<{ passes: number | null; ms: number | null; evaluated: number }>(
      "SELECT sum(passes) AS passes, sum(ms) AS ms, count(loss) AS evaluated FROM units WHERE source = 'queue'",
    )
    .one();
  const passes = (queued.passes ?? 0) + tuning.usage.forwardPasses;
  const merged = sql
    .exec<{ merges: number; members: number }>(
      "SELECT count(*) AS merges, coalesce(sum(json_array_length(members)), 0) AS members FROM clusters",
    )
    .one();
  const evaluationMs = (queued.ms ?? 0) + tuning.usage.ms;
  const messages = run.messages;
  const estimate = estimateCost({
    evaluatedUnits: queued.evaluated + tuning.usage.candidates,
    messages,
    evaluationMs,
    similarityMultiplyAdds: similarity.multiplyAdds,
    iterations: iterations.length,
    merges: merged.merges,
    mergeMembers: merged.members,
    unitRows: count("queue") + count("cache"),
    storedBytes: sql.databaseSize,
  });
  return {
    runId: config.runId,
    state: run.state,
    phase: run.phase,
    reason: run.reason,
    modelId: config.modelId,
    method: config.method,
    k: config.k,
    merge: config.merge,
    seed: config.seed,
    maxIterations: config.maxIterations,
    tune: config.tune ?? null,
    restarts: config.restarts ?? 1,
    restartCriterion: config.restartCriterion ?? "exactMatch",
    evaluator: config.evaluator ?? "wasm",
    tasks: ids,
    catalogueVersion: config.catalogueVersion,
    iteration: run.iteration,
    iterations,
    result:
      run.best_iteration === null
        ? null
        : config.parts
          ? allocation(sql, ids, config.parts)
          : result(sql, ids, run.best_iteration, tuning),
    cost: {
      units: count("queue") + count("cache"),
      cacheHits: count("cache"),
      forwardPasses: passes,
      // An alloc run measures each task under its own parts only: its schedule is already the whole need.
      naiveUnits: ids.length * (config.parts ? 1 : config.k) * iterations.length,
      evaluationMs,
      messages,
      similarity,
      tuning: { candidates: tuning.usage.candidates, forwardPasses: tuning.usage.forwardPasses },
      estimate,
    },
    report,
    createdAt: run.created_at,
    finishedAt: run.finished_at,
    ms: Date.parse(run.finished_at ?? run.updated_at) - Date.parse(run.created_at),
  };
}

/** The best iteration: its assignment, clusters with their tasks, and each task's loss under its own cluster. */
function result(sql: SqlStorage, ids: readonly string[], iteration: number, tuning: TuningView): RunResult {
  const assignment = tables.assignmentOf(sql, iteration);
  const untuned = sql
    .exec<{ objective: number }>("SELECT objective FROM iterations WHERE iteration = ?", iteration)
    .one().objective;
  const own = new Array<number>(ids.length).fill(NaN);
  for (const u of sql.exec<{ task: number; cluster: number; loss: number }>(
    "SELECT task, cluster, loss FROM units WHERE iteration = ?",
    iteration,
  )) {
    if (assignment[u.task] === u.cluster) own[u.task] = u.loss;
  }
  const clusters = tables.clustersOfIteration(sql, iteration).map((c): ClusterView => {
    const members = JSON.parse(c.members) as number[];
    const tuned = tuning.clusters.get(c.cluster);
    if (!tuned)
      return { cluster: c.cluster, tasks: members.map((t) => ids[t]), sha256: c.sha256, bytes: c.bytes, rank: c.rank };
    // The tuned merge ships: its adapter, and its tasks' few-shot losses under it.
    const { sha256, bytes, rank, losses, ...choice } = tuned;
    members.forEach((t, i) => (own[t] = losses[i].reduce((a, b) => a + b, 0) / losses[i].length));
    return { cluster: c.cluster, tasks: members.map((t) => ids[t]), sha256, bytes, rank, tuned: choice };
  });
  const objective = tuning.clusters.size ? own.reduce((a, b) => a + b, 0) / own.length : untuned;
  return {
    iteration,
    objective,
    ...(tuning.clusters.size ? { untunedObjective: untuned } : {}),
    clusters,
    assignment: Object.fromEntries(ids.map((id, t) => [id, assignment[t]])),
    taskLoss: Object.fromEntries(ids.map((id, t) => [id, own[t]])),
  };
}

/**
 * An alloc run's result: each task its own "cluster", served by the part the knapsack chose (the
 * iteration of its configuration), or by the base model.
 */
function allocation(sql: SqlStorage, ids: readonly string[], parts: NonNullable<RunConfig["parts"]>): RunResult {
  const chosen = sql
    .exec<{ task: number; iteration: number; sha256: string; bytes: number; rank: number; loss: number }>(
      `SELECT p.task, p.iteration, c.sha256, c.bytes, c.rank, u.loss FROM parts p
     JOIN clusters c ON c.iteration = p.iteration AND c.cluster = p.task
     JOIN units u ON u.iteration = p.iteration AND u.task = p.task ORDER BY p.task`,
    )
    .toArray();
  const clusters = chosen.map(
    (c): ClusterView => ({
      cluster: c.task,
      tasks: [ids[c.task]],
      sha256: c.sha256,
      bytes: c.bytes,
      rank: c.rank,
      part: c.iteration === 0 ? null : { rank: c.rank, dtype: parts.configs[c.iteration - 1].dtype },
    }),
  );
  return {
    iteration: 0,
    objective: chosen.reduce((s, c) => s + c.loss, 0) / chosen.length,
    assignment: Object.fromEntries(ids.map((id, t) => [id, t])),
    clusters,
    taskLoss: Object.fromEntries(chosen.map((c) => [ids[c.task], c.loss])),
    budget: { maxBytes: parts.maxBytes, bytes: chosen.reduce((s, c) => s + c.bytes, 0) },
  };
}

/** Tasks offset..offset+limit of an iteration's loss matrix (null: no such iteration). */
export function lossPage(
  sql: SqlStorage,
  run: StoredRun,
  iteration: number,
  offset: number,
  limit: number,
): LossPage | null {
  const config = run.parsed;
  const exists = sql.exec("SELECT 1 FROM iterations WHERE iteration = ?", iteration).toArray().length > 0;
  if (!exists) return null;
  const assignment = tables.assignmentOf(sql, iteration);
  const end = Math.min(offset + limit, config.tasks.length);
  const rows: LossRow[] = [];
  for (let t = offset; t < end; t++)
    rows.push({
      task: config.tasks[t].id,
      cluster: assignment[t],
      losses: new Array<number | null>(config.k).fill(null),
    });
  const units = sql.exec<{ task: number; cluster: number; loss: number | null }>(
    "SELECT task, cluster, loss FROM units WHERE iteration = ? AND task >= ? AND task < ?",
    iteration,
    offset,
    end,
  );
  for (const u of units) rows[u.task - offset].losses[u.cluster] = u.loss;
  return { runId: config.runId, iteration, k: config.k, offset, limit, total: config.tasks.length, rows };
}
