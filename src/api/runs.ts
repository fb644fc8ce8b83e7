import { Hono } from "hono";
import { z } from "zod";
import { MERGE_METHODS } from "../adapters/merge";
import { MAX_RANK } from "../adapters/peft";
import { evaluate as evaluateExamples } from "../inference/evaluate";
import { loadModel } from "../inference/model";
import { kForBudget } from "../runs/budget";
import { RUN_METHODS, type RunConfig, type RunTask } from "../runs/config";
import { readExamples, readMergedAdapter } from "../storage/adapters";
import { catalogue } from "../storage/catalogue";
import { clusterRun } from "../storage/runs";
import type { HeldOutRow } from "../../durable-objects/runStatus";
import { requireAdmin } from "./auth";
import { ApiError } from "./errors";
import { jsonBody } from "./validate";

export const RunRequest = z.object({
  /** K directly, or a budget it is derived from (exactly one of them; merge-all means K = 1). */
  k: z.number().int().min(1).optional(),
  budget: z.object({
    maxAdapters: z.number().int().min(1).optional(),
    maxBytes: z.number().int().min(1).optional(),
    dtype: z.enum(["fp16", "fp32"]).default("fp16"),
  }).refine((b) => b.maxAdapters !== undefined || b.maxBytes !== undefined, "give maxAdapters or maxBytes").optional(),
  method: z.enum(RUN_METHODS).default("d2c"),
  merge: z.object({
    method: z.enum(MERGE_METHODS),
    density: z.number().gt(0).max(1).optional(),
    rank: z.number().int().min(1).max(MAX_RANK).optional(),
  }).default({ method: "svd" }),
  seed: z.number().int().min(0).max(2 ** 32 - 1).default(0),
  maxIterations: z.number().int().min(1).max(50).default(10),
  /** Task ids; default every task of the catalogue that has few-shot examples. */
  tasks: z.array(z.string().min(1)).min(1).optional(),
}).strict();

/** How long a sent unit may stay silent before the run's alarm sends it again. */
const UNIT_TIMEOUT_MS = 60_000;
const RUN_ID = /^run-[0-9a-f-]{36}$/;

export const runs = new Hono<{ Bindings: Env }>();

runs.use("*", requireAdmin);

runs.post("/", async (c) => {
  const request = await jsonBody(c.req.raw, RunRequest);
  const cat = catalogue(c.env);
  const { tasks: all } = await cat.list();
  let chosen = all.filter((t) => t.examples.fewshot > 0 && t.examplesSha256.fewshot);
  if (request.tasks) {
    const byId = new Map(all.map((t) => [t.id, t]));
    chosen = [...new Set(request.tasks)].sort().map((id) => {
      const task = byId.get(id);
      if (!task) throw new ApiError(404, "unknown_task", `tasks: no task ${id}`);
      if (task.examples.fewshot === 0) throw new ApiError(409, "no_examples", `tasks: ${id} has no few-shot examples yet`);
      if (!task.examplesSha256.fewshot) throw new ApiError(409, "no_examples", `tasks: ${id}'s few-shot examples predate example digests; upload them again`);
      return task;
    });
  }
  if (chosen.length === 0) throw new ApiError(409, "no_tasks", "the catalogue has no task with few-shot examples");
  const modelId = chosen[0].modelId;
  const other = chosen.find((t) => t.modelId !== modelId);
  if (other) throw new ApiError(422, "model_mismatch", `tasks span models ${modelId} and ${other.modelId}: pass tasks of one model`);
  const model = await cat.model(modelId);
  if (!model) throw new ApiError(409, "unknown_model", `model ${modelId} is not registered`);
  const k = chooseK(request, chosen.length, model.loraTargets, Math.max(...chosen.map((t) => t.rank)));
  const runId = `run-${crypto.randomUUID()}`;
  const config: RunConfig = {
    runId, modelId, k, method: request.method, seed: request.seed,
    // dare_ties_svd's drop pattern follows the run's seed.
    merge: request.merge.method === "dare_ties_svd" ? { ...request.merge, seed: request.seed } : request.merge,
    maxIterations: request.method === "d2c" ? request.maxIterations : 1,
    tasks: chosen.map((t): RunTask => ({
      id: t.id, adapterSha256: t.adapterSha256, fewshotSha256: t.examplesSha256.fewshot, fewshot: t.examples.fewshot,
      ...(t.application ? { application: t.application } : {}), ...(t.language ? { language: t.language } : {}),
    })),
    unitTimeoutMs: UNIT_TIMEOUT_MS,
    createdAt: new Date().toISOString(),
  };
  await clusterRun(c.env, runId).start(config);
  return c.json({ runId, k, tasks: chosen.length }, 202, { location: `/v1/runs/${runId}` });
});

function chooseK(request: z.infer<typeof RunRequest>, tasks: number, targets: Parameters<typeof kForBudget>[2], rank: number): number {
  if (request.method === "merge-all") {
    if ((request.k ?? 1) !== 1 || request.budget) throw new ApiError(400, "invalid_request", "merge-all makes one adapter: omit k and budget, or give k = 1");
    return 1;
  }
  if ((request.k === undefined) === (request.budget === undefined)) throw new ApiError(400, "invalid_request", "give exactly one of k and budget");
  if (request.k !== undefined && request.k > tasks) throw new ApiError(400, "invalid_k", `k is ${request.k}, more than the ${tasks} tasks`);
  if (request.k !== undefined) return request.k;
  if (request.merge.method === "cat" && request.budget!.maxBytes !== undefined) {
    throw new ApiError(400, "invalid_request", "a byte budget needs a fixed-rank merge; cat's rank grows with the cluster");
  }
  const k = kForBudget(request.budget!, tasks, targets, request.merge.rank ?? rank);
  if (k < 1) throw new ApiError(422, "budget_too_small", `budget ${JSON.stringify(request.budget)} does not hold one adapter of rank ${request.merge.rank ?? rank}`);
  return k;
}

/** The run's stub, or a 404 naming the id. */
async function existingRun(env: Env, runId: string) {
  if (!RUN_ID.test(runId)) throw new ApiError(400, "bad_id", `run id must match ${RUN_ID}`);
  const run = clusterRun(env, runId);
  const status = await run.status();
  if (!status) throw new ApiError(404, "unknown_run", `no run ${runId}`);
  return { run, status };
}

runs.get("/:runId", async (c) => c.json((await existingRun(c.env, c.req.param("runId"))).status));

runs.get("/:runId/events", async (c) => (await existingRun(c.env, c.req.param("runId"))).run.fetch(c.req.raw));

runs.post("/:runId/cancel", async (c) => {
  const { run } = await existingRun(c.env, c.req.param("runId"));
  return c.json(await run.cancel());
});

/** Held-out exact match of every task under its cluster's merged adapter (computed once, then kept). */
runs.post("/:runId/report", async (c) => {
  const { run, status } = await existingRun(c.env, c.req.param("runId"));
  if (status.state !== "done" || !status.result) throw new ApiError(409, "run_not_done", `run ${status.runId} is ${status.state}; a report needs a finished run`);
  let rows = status.heldOut;
  if (rows.length !== status.tasks.length) {
    const model = await loadModel(c.env.BUCKET, status.modelId);
    const result = status.result;
    rows = [];
    for (const task of status.tasks) {
      const cluster = result.assignment[task];
      const examples = await readExamples(c.env.BUCKET, task, "test");
      if (!examples) throw new ApiError(409, "no_examples", `task ${task} has no test examples`);
      const adapter = await readMergedAdapter(c.env.BUCKET, result.clusters[cluster].sha256, model.contract.loraTargets);
      const { exactMatch, loss, examples: n } = await evaluateExamples(model, examples, adapter);
      rows.push({ task, cluster, exactMatch, loss, examples: n } satisfies HeldOutRow);
    }
    await run.recordHeldOut(rows);
  }
  const meanExactMatch = rows.reduce((s, r) => s + r.exactMatch, 0) / rows.length;
  return c.json({ runId: status.runId, meanExactMatch, tasks: rows });
});
