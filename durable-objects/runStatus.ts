/** The run as `GET /v1/runs/:id` shows it (types in src/runs/status.ts), read from the run's tables. */
import type { ClusterView, IterationView, ReportView, RunStatus } from "../src/runs/status";
import * as tables from "./runTables";
import type { StoredRun } from "./runTables";

export function runStatus(sql: SqlStorage, run: StoredRun, report: ReportView | null): RunStatus {
  const config = run.parsed;
  const ids = config.tasks.map((t) => t.id);
  const byTask = <T>(values: readonly T[]) => Object.fromEntries(ids.map((id, t) => [id, values[t]]));
  const iterations = sql.exec<{ iteration: number; assignment: string; objective: number | null }>("SELECT * FROM iterations ORDER BY iteration")
    .toArray().map((row): IterationView => {
      const clusters = tables.clustersOfIteration(sql, row.iteration).map((c): ClusterView => ({
        cluster: c.cluster, tasks: (JSON.parse(c.members) as number[]).map((t) => ids[t]), sha256: c.sha256, bytes: c.bytes, rank: c.rank,
      }));
      const losses = ids.map(() => new Array<number | null>(config.k).fill(null));
      for (const u of tables.unitsOfIteration(sql, row.iteration)) losses[u.task][u.cluster] = u.loss;
      return { iteration: row.iteration, objective: row.objective, assignment: byTask(JSON.parse(row.assignment) as number[]), clusters, losses: byTask(losses) };
    });
  const units = sql.exec<{ source: string; evaluated: number; n: number }>(
    "SELECT source, loss IS NOT NULL AS evaluated, count(*) AS n FROM units GROUP BY source, evaluated").toArray();
  const count = (source: string) => units.filter((u) => u.source === source).reduce((s, u) => s + u.n, 0);
  // What the evaluator counted, once per unit (a duplicate delivery is never evaluated, see claimUnit).
  const passes = sql.exec<{ n: number | null }>("SELECT sum(passes) AS n FROM units WHERE source = 'queue'").one().n ?? 0;
  const best = run.best_iteration === null ? null : iterations[run.best_iteration];
  return {
    runId: config.runId, state: run.state, phase: run.phase, reason: run.reason, modelId: config.modelId, method: config.method,
    k: config.k, merge: config.merge, seed: config.seed, maxIterations: config.maxIterations, evaluator: config.evaluator ?? "wasm", tasks: ids,
    catalogueVersion: config.catalogueVersion, iteration: run.iteration,
    iterations,
    result: best && {
      iteration: best.iteration, objective: best.objective!, assignment: best.assignment, clusters: best.clusters,
      taskLoss: Object.fromEntries(ids.map((id) => [id, best.losses[id][best.assignment[id]]!])),
    },
    cost: { units: count("queue") + count("cache"), cacheHits: count("cache"), forwardPasses: passes, naiveUnits: ids.length * config.k * iterations.length },
    report,
    createdAt: run.created_at,
    finishedAt: run.finished_at,
    ms: Date.parse(run.finished_at ?? run.updated_at) - Date.parse(run.created_at),
  };
}
