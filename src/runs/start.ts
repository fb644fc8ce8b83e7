/**
 * Starting a clustering run: the request checked against the catalogue, K chosen, the tasks
 * pinned (adapter and example digests), and the ClusterRun object created. Used by
 * `POST /v1/runs` and by the cron's re-clustering of auto profiles.
 */
import { DEFAULT_MERGE_METHOD, mergeMethod, takesParameter } from "../adapters/merge/registry";
import { DEFAULT_PRUNE } from "../clustering/pruned";
import { shippedAdapterBytes } from "../delivery/encode";
import type { ModelContract } from "../inference/contract";
import { DomainError } from "../errors";
import type { StoredProfile } from "../delivery/profiles";
import { catalogue } from "../storage/catalogue";
import { clusterRun } from "../storage/runs";
import { adapterBytes, kForBudget } from "./budget";
import type { Evaluator, RunConfig, RunTask } from "./config";
import { DEFAULT_PART_CONFIGS } from "../budget/candidates";
import { shipsParts } from "../delivery/profiles";

import { defaultRestarts, RunRequest } from "./request";

// The request's schema lives beside the config, free of Workers types; its users import it from here.
export { defaultRestarts, RunRequest };

/** The run the cron's re-clustering and per-device task sets start: pruned D2C, svd merge, warm caches. */
export const AUTO_RUN: RunRequest = {
  method: "d2c",
  merge: { method: DEFAULT_MERGE_METHOD },
  seed: 0,
  maxIterations: 10,
  cache: true,
  prune: true,
  restartCriterion: "exactMatch",
};

/** How long a sent unit may stay silent before the run's alarm sends it again. */
const UNIT_TIMEOUT_MS = 60_000;

/** Warm start: the clusters of a release by task id; tasks in none of them are placed by loss. */
export interface WarmStart {
  readonly clusters: readonly (readonly string[])[];
}

/**
 * `subset`: the run builds that per-device task set's release, published when the run ends
 * (src/workflows/runFinished.ts).
 */
export async function startRun(
  env: Env,
  request: RunRequest,
  warm?: WarmStart,
  subset?: RunConfig["subset"],
): Promise<{ runId: string; k: number; tasks: number }> {
  const cat = catalogue(env);
  const { tasks: all, catalogueVersion } = await cat.list();
  const profile =
    request.profile === undefined ? undefined : (await cat.profiles()).find((p) => p.id === request.profile);
  if (request.profile !== undefined && !profile)
    throw new DomainError("not_found", "unknown_profile", `profile: no profile ${request.profile}`);
  const wanted = profile?.modelId ?? request.modelId;
  let chosen = all.filter(
    (t) => t.examples.fewshot > 0 && t.examplesSha256.fewshot && (!wanted || t.modelId === wanted),
  );
  if (request.tasks) {
    const byId = new Map(all.map((t) => [t.id, t]));
    chosen = [...new Set(request.tasks)].sort().map((id) => {
      const task = byId.get(id);
      if (!task) throw new DomainError("not_found", "unknown_task", `tasks: no task ${id}`);
      if (task.examples.fewshot === 0)
        throw new DomainError("conflict", "no_examples", `tasks: ${id} has no few-shot examples yet`);
      if (!task.examplesSha256.fewshot)
        throw new DomainError(
          "conflict",
          "no_examples",
          `tasks: ${id}'s few-shot examples predate example digests; upload them again`,
        );
      return task;
    });
  }
  if (chosen.length === 0)
    throw new DomainError("conflict", "no_tasks", "the catalogue has no task with few-shot examples");
  const modelId = chosen[0].modelId;
  const other = chosen.find((t) => t.modelId !== modelId);
  if (other)
    throw new DomainError(
      "unprocessable",
      "model_mismatch",
      `tasks span models ${modelId} and ${other.modelId}: give modelId, or tasks of one model`,
    );
  if (request.modelId && modelId !== request.modelId)
    throw new DomainError(
      "unprocessable",
      "model_mismatch",
      `modelId is ${request.modelId}, the tasks are for ${modelId}`,
    );
  if (profile && profile.modelId !== modelId)
    throw new DomainError(
      "unprocessable",
      "model_mismatch",
      `profile ${profile.id} is for model ${profile.modelId}, the tasks for ${modelId}`,
    );
  const model = await cat.model(modelId);
  if (!model) throw new DomainError("conflict", "unknown_model", `model ${modelId} is not registered`);
  const evaluator = chooseEvaluator(env, request, model);
  const { tune, ...requested } = request.merge;
  // Candidates carry per-example losses, which only the Worker's own evaluation returns.
  if (tune && evaluator === "remote")
    throw new DomainError(
      "invalid",
      "invalid_request",
      "merge.tune: tuning runs on the Worker's evaluator; this model is evaluated by the service",
    );
  const fewest = Math.min(...chosen.map((t) => t.examples.fewshot));
  if (tune && tune.folds > fewest)
    throw new DomainError(
      "invalid",
      "invalid_request",
      `merge.tune.folds is ${tune.folds}, more than the ${fewest} few-shot examples of a task`,
    );
  const merge = profile ? { ...requested, rank: requested.rank ?? profile.rank } : requested;
  const parts = chooseParts(request, profile, evaluator);
  const k = parts
    ? chosen.length
    : chooseK(request, profile, chosen.length, model, merge.rank ?? Math.max(...chosen.map((t) => t.rank)));
  const runId = `run-${crypto.randomUUID()}`;
  const config: RunConfig = {
    runId,
    modelId,
    k,
    method: request.method,
    seed: request.seed,
    // A seeded method's drop pattern (dare_ties_svd's) follows the run's seed.
    merge: takesParameter(merge.method, "seed") ? { ...merge, seed: request.seed } : merge,
    maxIterations: request.method === "d2c" ? request.maxIterations : parts ? parts.configs.length + 1 : 1,
    tasks: chosen.map(
      (t): RunTask => ({
        id: t.id,
        adapterSha256: t.adapterSha256,
        fewshotSha256: t.examplesSha256.fewshot,
        fewshot: t.examples.fewshot,
        ...(t.application ? { application: t.application } : {}),
        ...(t.language ? { language: t.language } : {}),
      }),
    ),
    ...(warm
      ? {
          initialAssignment: warmAssignment(
            warm,
            chosen.map((t) => t.id),
            k,
          ),
        }
      : {}),
    // An allocation measures each task alone, one part configuration per iteration.
    ...(parts ? { parts, initialAssignment: chosen.map((_, t) => t) } : {}),
    restarts: chooseRestarts(request, warm !== undefined, chosen.length),
    restartCriterion: request.restartCriterion,
    ...(tune ? { tune } : {}),
    cache: request.cache,
    prune:
      request.method !== "d2c" || request.prune === false
        ? null
        : request.prune === true
          ? DEFAULT_PRUNE
          : { ...DEFAULT_PRUNE, ...request.prune },
    evaluator,
    ...(subset ? { subset } : {}),
    unitTimeoutMs: UNIT_TIMEOUT_MS,
    catalogueVersion,
    loraTargets: model.loraTargets,
    createdAt: new Date().toISOString(),
  };
  await clusterRun(env, runId).start(config);
  await cat.recordRun({
    runId,
    createdAt: config.createdAt,
    method: config.method,
    k,
    tasks: chosen.length,
    ...(profile ? { profile: profile.id } : {}),
  });
  return { runId, k, tasks: chosen.length };
}

/**
 * An "alloc" run's parts and byte budget (a `parts` profile's maxBytes, or the request's); null for
 * any other method. A `parts` profile takes alloc runs only: its devices hold parts, not merges.
 */
function chooseParts(
  request: RunRequest,
  profile: StoredProfile | undefined,
  evaluator: Evaluator,
): RunConfig["parts"] | null {
  if (request.method !== "alloc") {
    if (request.parts) throw new DomainError("invalid", "invalid_request", "parts: only an alloc run measures parts");
    if (profile && shipsParts(profile)) {
      throw new DomainError(
        "unprocessable",
        "format_mismatch",
        `profile ${profile.id} ships parts: start an alloc run for it (method "alloc")`,
      );
    }
    return null;
  }
  if (request.k !== undefined || request.merge.tune || request.restarts !== undefined) {
    throw new DomainError(
      "invalid",
      "invalid_request",
      "alloc measures every task under each part: omit k, merge.tune and restarts",
    );
  }
  if (profile && !shipsParts(profile)) {
    throw new DomainError(
      "unprocessable",
      "format_mismatch",
      `profile ${profile.id} ships ${profile.formats.join(", ")}; an alloc run is for a profile with formats ["parts"]`,
    );
  }
  const maxBytes = profile ? profile.budget.maxBytes : request.budget?.maxBytes;
  if (maxBytes === undefined || (profile && request.budget)) {
    throw new DomainError(
      "invalid",
      "invalid_request",
      "alloc spends a byte budget: give a parts profile or budget.maxBytes (one of them)",
    );
  }
  // Candidates are built and evaluated in the Worker (src/runs/partAdapters.ts).
  if (evaluator === "remote")
    throw new DomainError(
      "invalid",
      "invalid_request",
      "alloc runs on the Worker's evaluator; this model is evaluated by the service",
    );
  return { configs: request.parts?.configs ?? DEFAULT_PART_CONFIGS, maxBytes };
}

/** Restarts start from seeded k-means: a baseline or a warm-started run has one start only. */
function chooseRestarts(request: RunRequest, warm: boolean, tasks: number): number {
  const restartable = request.method === "d2c" && !warm;
  if (request.restarts !== undefined && request.restarts > 1 && !restartable) {
    throw new DomainError(
      "invalid",
      "invalid_request",
      `restarts: only a D2C run from a k-means start restarts, not ` +
        `${warm ? "a warm-started run" : `method ${request.method}`}`,
    );
  }
  return restartable ? (request.restarts ?? defaultRestarts(tasks)) : 1;
}

/** The request's evaluator, else the model's; a model registered for the service is never evaluated in the Worker. */
function chooseEvaluator(env: Env, request: RunRequest, model: ModelContract): Evaluator {
  if (request.evaluator === "wasm" && model.evaluator === "remote") {
    throw new DomainError(
      "unprocessable",
      "remote_model",
      `model ${model.modelId} is registered for the evaluator service: omit evaluator or give "remote"`,
    );
  }
  const evaluator = request.evaluator ?? model.evaluator ?? "wasm";
  // Refused now rather than after every unit's retries.
  if (evaluator === "remote" && (!env.EVALUATOR_URL || !env.EVALUATOR_SECRET)) {
    throw new DomainError(
      "unavailable",
      "evaluator_unconfigured",
      "the evaluator service is not configured: set EVALUATOR_URL and the EVALUATOR_SECRET secret",
    );
  }
  return evaluator;
}

function chooseK(
  request: RunRequest,
  profile: StoredProfile | undefined,
  tasks: number,
  model: ModelContract,
  rank: number,
): number {
  const given = [request.k, request.budget, profile].filter((x) => x !== undefined).length;
  if (request.method === "merge-all") {
    if ((request.k ?? 1) !== 1 || request.budget || profile)
      throw new DomainError(
        "invalid",
        "invalid_request",
        "merge-all makes one adapter: omit k, budget and profile, or give k = 1",
      );
    return 1;
  }
  if (request.method === "own") {
    if ((request.k ?? tasks) !== tasks || request.budget)
      throw new DomainError(
        "invalid",
        "invalid_request",
        `own keeps each task's adapter: omit k and budget, or give k = ${tasks}`,
      );
    if (profile && profileK(profile, model, tasks, rank) < tasks) {
      throw new DomainError(
        "unprocessable",
        "over_budget",
        `profile ${profile.id}'s budget holds fewer than the ${tasks} tasks' own adapters`,
      );
    }
    return tasks;
  }
  if (given !== 1) throw new DomainError("invalid", "invalid_request", "give exactly one of k, budget and profile");
  if (request.k !== undefined && request.k > tasks)
    throw new DomainError("invalid", "invalid_k", `k is ${request.k}, more than the ${tasks} tasks`);
  if (request.k !== undefined) return request.k;
  const budget = profile ? { ...profile.budget, dtype: profile.dtype } : request.budget!;
  if (!mergeMethod(request.merge.method)!.fixedRank && budget.maxBytes !== undefined) {
    const method = request.merge.method;
    const message = `a byte budget needs a fixed-rank merge; ${method}'s rank grows with the cluster`;
    throw new DomainError("invalid", "invalid_request", message);
  }
  // A bare budget counts parameters.
  return profile
    ? profileK(profile, model, tasks, rank)
    : checkedK(budget, kForBudget(budget, tasks, adapterBytes(model.loraTargets, rank, budget.dtype)), rank);
}

/**
 * K for `tasks` tasks under a profile's budget, merged adapters of rank `rank` (default the
 * profile's): its bytes are its files, as publish will check them. A per-device task set with at
 * most this many tasks ships each task's own adapter.
 */
export function profileK(profile: StoredProfile, model: ModelContract, tasks: number, rank = profile.rank): number {
  const budget = { ...profile.budget, dtype: profile.dtype };
  return checkedK(budget, kForBudget(budget, tasks, shippedAdapterBytes(profile, model, rank)), rank);
}

function checkedK(budget: object, k: number, rank: number): number {
  if (k < 1)
    throw new DomainError(
      "unprocessable",
      "budget_too_small",
      `budget ${JSON.stringify(budget)} does not hold one adapter of rank ${rank}`,
    );
  return k;
}

/** The release's clusters as an assignment over `taskIds`; -1 for a task the release did not have. */
function warmAssignment(warm: WarmStart, taskIds: readonly string[], k: number): number[] {
  const clusterOf = new Map(warm.clusters.flatMap((tasks, c) => tasks.map((t) => [t, c] as const)));
  const assignment = taskIds.map((t) => clusterOf.get(t) ?? -1);
  const kept = new Set(assignment.filter((c) => c >= 0));
  if (warm.clusters.length !== k || kept.size !== k)
    throw new DomainError(
      "conflict",
      "cannot_warm_start",
      `the release's ${warm.clusters.length} clusters do not fit K=${k} over today's tasks`,
    );
  return assignment;
}
