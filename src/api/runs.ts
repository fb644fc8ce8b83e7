import { Hono } from "hono";
import { evaluate as evaluateExamples } from "../inference/evaluate";
import { loadModel } from "../inference/model";
import { RunRequest, startRun } from "../runs/start";
import { readExamples, readMergedAdapter } from "../storage/adapters";
import { catalogue } from "../storage/catalogue";
import { clusterRun } from "../storage/runs";
import type { HeldOutRow } from "../../durable-objects/runStatus";
import { requireAdmin } from "./auth";
import { ApiError } from "./errors";
import { jsonBody } from "./validate";

const RUN_ID = /^run-[0-9a-f-]{36}$/;

export const runs = new Hono<{ Bindings: Env }>();

runs.use("*", requireAdmin);

runs.get("/", async (c) => c.json({ runs: await catalogue(c.env).runs(100) }));

runs.post("/", async (c) => {
  const request = await jsonBody(c.req.raw, RunRequest);
  const { runId, k, tasks } = await startRun(c.env, request);
  return c.json({ runId, k, tasks }, 202, { location: `/v1/runs/${runId}` });
});

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
