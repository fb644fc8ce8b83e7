/** The run as `GET /v1/runs/:id` shows it, read from the run's tables. */
import { MAX_BATCH } from "../src/inference/evaluate";
import type { MergeSettings, RunMethod } from "../src/runs/config";
import * as tables from "./runTables";
import type { RunPhase, RunState, StoredRun } from "./runTables";

export interface ClusterView {
  readonly cluster: number;
  readonly tasks: string[];
  readonly sha256: string;
  readonly bytes: number;
  readonly rank: number;
}

export interface IterationView {
  readonly iteration: number;
  /** J: mean few-shot loss of the tasks under their clusters; null while evaluating. */
  readonly objective: number | null;
  readonly assignment: Record<string, number>;
  readonly clusters: ClusterView[];
  /** Few-shot loss of every task under every evaluated cluster: losses[task][cluster]. */
  readonly losses: Record<string, (number | null)[]>;
}

export interface HeldOutRow {
  readonly task: string;
  readonly cluster: number;
  readonly exactMatch: number;
  readonly loss: number;
  readonly examples: number;
}

export interface RunStatus {
  readonly runId: string;
  readonly state: RunState;
  readonly phase: RunPhase;
  readonly reason: string | null;
  readonly modelId: string;
  readonly method: RunMethod;
  readonly k: number;
  readonly merge: MergeSettings;
  readonly seed: number;
  readonly maxIterations: number;
  readonly tasks: string[];
  readonly catalogueVersion: number;
  readonly iteration: number;
  readonly iterations: IterationView[];
  /** The best iteration (lowest J) once the run is done. */
  readonly result: { iteration: number; objective: number; assignment: Record<string, number>; clusters: ClusterView[]; taskLoss: Record<string, number> } | null;
  readonly cost: {
    /** Task x merged adapter evaluations the run needed. */
    readonly units: number;
    readonly cacheHits: number;
    readonly forwardPasses: number;
    /** Evaluations of the naive schedule: every task under every cluster, every iteration. */
    readonly naiveUnits: number;
  };
  readonly heldOut: HeldOutRow[];
  readonly createdAt: string;
  readonly finishedAt: string | null;
  readonly ms: number;
}

export function runStatus(sql: SqlStorage, run: StoredRun): RunStatus {
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
  const passes = sql.exec<{ task: number }>("SELECT task FROM units WHERE source = 'queue' AND loss IS NOT NULL").toArray()
    .reduce((s, u) => s + Math.ceil(config.tasks[u.task].fewshot / MAX_BATCH), 0);
  const best = run.best_iteration === null ? null : iterations[run.best_iteration];
  return {
    runId: config.runId, state: run.state, phase: run.phase, reason: run.reason, modelId: config.modelId, method: config.method,
    k: config.k, merge: config.merge, seed: config.seed, maxIterations: config.maxIterations, tasks: ids,
    catalogueVersion: config.catalogueVersion, iteration: run.iteration,
    iterations,
    result: best && {
      iteration: best.iteration, objective: best.objective!, assignment: best.assignment, clusters: best.clusters,
      taskLoss: Object.fromEntries(ids.map((id) => [id, best.losses[id][best.assignment[id]]!])),
    },
    cost: { units: count("queue") + count("cache"), cacheHits: count("cache"), forwardPasses: passes, naiveUnits: ids.length * config.k * iterations.length },
    heldOut: sql.exec<{ task: string; cluster: number; exact_match: number; loss: number; examples: number }>("SELECT * FROM report ORDER BY task")
      .toArray().map((r) => ({ task: r.task, cluster: r.cluster, exactMatch: r.exact_match, loss: r.loss, examples: r.examples })),
    createdAt: run.created_at,
    finishedAt: run.finished_at,
    ms: Date.parse(run.finished_at ?? run.updated_at) - Date.parse(run.created_at),
  };
}
