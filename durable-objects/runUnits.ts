/**
 * A run's few-shot units: which (task, cluster) pairs an iteration needs and which of them the
 * loss cache already knows, the queue messages for the rest, and the reason a non-finite loss
 * gives. The ClusterRun object drives them; these functions read and write its tables.
 */
import type { RunConfig } from "../src/runs/config";
import { plan } from "../src/clustering/policy";
import { lossKey } from "../src/runs/keys";
import { sendUnits } from "../src/runs/unit";
import type { CachedLoss } from "../src/runs/cached";
import { cachedLosses } from "../src/storage/clusterCache";
import { earlierIterations, iterationLosses, policySettings, policyState } from "./runPolicy";
import * as tables from "./runTables";
import type { WorkLedger } from "./workLedger";

/**
 * The iteration's units still to plan as rows to insert, cached losses filled in (unless the run
 * turned the cache off): D2C's pairs as the policy plans them (`widened`: the rest of a pruned
 * iteration's full sweep), a baseline's each task under its own cluster.
 */
export async function plannedUnits(
  env: Env,
  sql: SqlStorage,
  ledger: WorkLedger,
  config: RunConfig,
  iteration: number,
  widened = false,
): Promise<() => void> {
  const assignment = tables.assignmentOf(sql, iteration);
  const clusters = tables.clustersOfIteration(sql, iteration);
  let pairs: (readonly [number, number])[] = assignment.map((c, t) => [t, c] as const);
  if (config.method === "d2c") {
    const state = { ...policyState(sql, config, iteration), ...(widened ? { full: true } : {}) };
    // Only a pruned iteration ranks, by the trajectory's earlier losses and the task similarities.
    const similarity = state.full ? null : tables.readSimilarity(sql, assignment.length);
    const earlier = state.full ? [] : earlierIterations(sql, config, iteration);
    pairs = plan(policySettings(config), state, earlier, similarity, iterationLosses(sql, config, iteration));
  }
  const keys = await Promise.all(pairs.map(([t, c]) => lossKey(clusters[c].cluster_key, config.tasks[t])));
  const known: Record<string, CachedLoss> = config.cache === false ? {} : await cachedLosses(env, keys);
  return () => {
    pairs.forEach(([t, c], i) => {
      const hit = known[keys[i]];
      const id = `${iteration}:${t}:${c}`;
      sql.exec(
        "INSERT INTO units (id, iteration, task, cluster, loss_key, loss, tokens, source, exact_match) VALUES " +
          "(?, ?, ?, ?, ?, ?, ?, ?, ?)",
        id,
        iteration,
        t,
        c,
        keys[i],
        hit?.loss ?? null,
        hit?.tokens ?? null,
        hit ? "cache" : "queue",
        hit?.exactMatch ?? null,
      );
      // Unsent: the iteration's first watchdog pass sends them.
      if (!hit) ledger.add("unit", [{ id, ref: id }]);
    });
    const pending = pairs.filter((_, i) => !known[keys[i]]).length;
    // A widened iteration adds to the units its pruned sweep planned.
    sql.exec(
      "UPDATE iterations SET units_total = coalesce(units_total, 0) + ?, " +
        "units_pending = coalesce(units_pending, 0) + ? WHERE iteration = ?",
      pairs.length,
      pending,
      iteration,
    );
  };
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
    if (!merged.has(iteration))
      merged.set(
        iteration,
        tables.clustersOfIteration(sql, iteration).map((c) => c.sha256),
      );
    return merged.get(iteration)![cluster];
  };
  const units = ids.map((id) => sql.exec<tables.UnitRow>("SELECT * FROM units WHERE id = ?", id).one());
  ledger.markSent(ids);
  const messages = await sendUnits(
    queue,
    "unit",
    units.map((u) => ({
      runId: config.runId,
      unitId: u.id,
      modelId: config.modelId,
      taskId: config.tasks[u.task].id,
      split: "fewshot",
      examplesSha256: config.tasks[u.task].fewshotSha256,
      mergedSha256: mergedSha256(u.iteration, u.cluster),
      evaluator: config.evaluator ?? "wasm",
    })),
  );
  sql.exec("UPDATE run SET messages = messages + ?", messages);
}

/**
 * Every member of a cluster is evaluated under its merged adapter, so the reason names them all
 * (each member's own adapter passed the reader's bounds at the merge, see src/runs/merging.ts).
 */
export function nonFiniteLossReason(sql: SqlStorage, config: RunConfig, unitId: string, loss: number): string {
  const unit = sql.exec<tables.UnitRow>("SELECT * FROM units WHERE id = ?", unitId).one();
  const members = (JSON.parse(tables.clustersOfIteration(sql, unit.iteration)[unit.cluster].members) as number[]).map(
    (t) => config.tasks[t].id,
  );
  return (
    `task ${config.tasks[unit.task].id} gave a non-finite few-shot loss (${loss}) under cluster ${unit.cluster} ` +
    `of iteration ${unit.iteration}, the merge of ${members.join(", ")}`
  );
}
