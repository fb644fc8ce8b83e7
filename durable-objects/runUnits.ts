/**
 * A run's few-shot units: which (task, cluster) pairs an iteration needs and which of them the
 * loss cache already knows, the queue messages for the rest, and the reason a non-finite loss
 * gives. The ClusterRun object drives them; these functions read and write its tables.
 */
import type { RunConfig } from "../src/runs/config";
import { candidateClusters, lossRanking, similarityRanking } from "../src/clustering/pruned";
import { lossKey } from "../src/runs/keys";
import { sendUnits } from "../src/runs/unit";
import type { CachedLoss } from "../src/runs/cached";
import { cachedLosses } from "../src/storage/clusterCache";
import * as tables from "./runTables";
import type { WorkLedger } from "./workLedger";

/** The iteration's units as rows to insert, cached losses filled in (unless the run turned the cache off). */
export async function plannedUnits(
  env: Env,
  sql: SqlStorage,
  ledger: WorkLedger,
  config: RunConfig,
  iteration: number,
): Promise<() => void> {
  const assignment = tables.assignmentOf(sql, iteration);
  const clusters = tables.clustersOfIteration(sql, iteration);
  // D2C: each task under every cluster, or pruned, its candidates; a baseline only each task under its own.
  const candidates = config.method !== "d2c" ? assignment.map((c) => [c])
    : config.prune && !tables.isFullIteration(sql, iteration) ? candidateClusters(assignment, config.k, earlierLosses(sql, config, iteration, clusters, assignment, config.k), config.prune, false)
    : assignment.map(() => clusters.map((c) => c.cluster));
  const pairs = candidates.flatMap((cs, t) => cs.map((c) => [t, c] as const));
  const keys = await Promise.all(pairs.map(([t, c]) => lossKey(clusters[c].cluster_key, config.tasks[t])));
  const known: Record<string, CachedLoss> = config.cache === false ? {} : await cachedLosses(env, keys);
  return () => {
    pairs.forEach(([t, c], i) => {
      const hit = known[keys[i]];
      const id = `${iteration}:${t}:${c}`;
      sql.exec(
        "INSERT INTO units (id, iteration, task, cluster, loss_key, loss, tokens, source, exact_match) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        id, iteration, t, c, keys[i], hit?.loss ?? null, hit?.tokens ?? null, hit ? "cache" : "queue", hit?.exactMatch ?? null,
      );
      // Unsent: the iteration's first watchdog pass sends them.
      if (!hit) ledger.add("unit", [{ id, ref: id }]);
    });
    const pending = pairs.filter((_, i) => !known[keys[i]]).length;
    sql.exec("UPDATE iterations SET units_total = ?, units_pending = ? WHERE iteration = ?", pairs.length, pending, iteration);
  };
}

/**
 * Pruned D2C's ranking from this trajectory's earlier iterations, as `runD2C` ranks ("stale"): a task's
 * loss under a cluster whose merge is unchanged (same cluster key), else its latest loss under the
 * same cluster label (the merge has changed since, usually by a few members); a cluster never
 * measured for the task ranks first (news worth one evaluation), those ordered by task similarity
 * where the run stored it (a pruned first iteration), else all alike.
 */
function earlierLosses(sql: SqlStorage, config: RunConfig, iteration: number, clusters: readonly tables.ClusterRow[], assignment: readonly number[], k: number) {
  const valid = new Map<string, number>();
  const stale = new Map<string, number>();
  // Only this trajectory's iterations: a restart ranks as a run from its own start would.
  const from = tables.currentRestart(sql, config.seed).firstIteration;
  for (const u of sql.exec<{ task: number; cluster: number; loss: number; cluster_key: string }>(
    `SELECT u.task, u.cluster, u.loss, c.cluster_key FROM units u JOIN clusters c ON c.iteration = u.iteration AND c.cluster = u.cluster
     WHERE u.iteration >= ? AND u.iteration < ? AND u.loss IS NOT NULL ORDER BY u.iteration`, from, iteration)) {
    const pair = `${u.task}:${u.cluster}`;
    stale.set(pair, u.loss);
    if (clusters[u.cluster]?.cluster_key === u.cluster_key) valid.set(pair, u.loss);
  }
  const similarity = tables.readSimilarity(sql, assignment.length);
  const fallback = similarity ? similarityRanking(similarity, assignment.length, assignment, k) : () => 0;
  return lossRanking((t, c) => valid.get(`${t}:${c}`), fallback, (t, c) => stale.get(`${t}:${c}`));
}

/** Sends few-shot units (`ids`), marked sent in the ledger before the messages go. */
export async function sendFewShotUnits(
  queue: Queue,
  sql: SqlStorage,
  ledger: WorkLedger,
  config: RunConfig,
  ids: readonly string[],
): Promise<void> {
  const merged = new Map<number, string[]>();
  const mergedSha256 = (iteration: number, cluster: number) => {
    if (!merged.has(iteration)) merged.set(iteration, tables.clustersOfIteration(sql, iteration).map((c) => c.sha256));
    return merged.get(iteration)![cluster];
  };
  const units = ids.map((id) => sql.exec<tables.UnitRow>("SELECT * FROM units WHERE id = ?", id).one());
  ledger.markSent(ids);
  const messages = await sendUnits(queue, "unit", units.map((u) => ({
    runId: config.runId, unitId: u.id, modelId: config.modelId, taskId: config.tasks[u.task].id,
    split: "fewshot", examplesSha256: config.tasks[u.task].fewshotSha256, mergedSha256: mergedSha256(u.iteration, u.cluster),
    evaluator: config.evaluator ?? "wasm",
  })));
  sql.exec("UPDATE run SET messages = messages + ?", messages);
}

/**
 * Every member of a cluster is evaluated under its merged adapter, so the reason names them all
 * (each member's own adapter passed the reader's bounds at the merge, see src/runs/merging.ts).
 */
export function nonFiniteLossReason(sql: SqlStorage, config: RunConfig, unitId: string, loss: number): string {
  const unit = sql.exec<tables.UnitRow>("SELECT * FROM units WHERE id = ?", unitId).one();
  const members = (JSON.parse(tables.clustersOfIteration(sql, unit.iteration)[unit.cluster].members) as number[]).map((t) => config.tasks[t].id);
  return `task ${config.tasks[unit.task].id} gave a non-finite few-shot loss (${loss}) under cluster ${unit.cluster} of iteration ${unit.iteration}, the merge of ${members.join(", ")}`;
}
