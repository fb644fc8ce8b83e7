import { Hono } from "hono";
import { z } from "zod";
import { RunRequest, startRun } from "../runs/start";
import { catalogue } from "../storage/catalogue";
import { clusterRun } from "../storage/runs";
import { listRuns } from "../workflows/runIndex";
import { requireAdmin } from "./auth";
import { ApiError } from "./errors";
import { issueMessage, jsonBody } from "./validate";

const RUN_ID = /^run-[0-9a-f-]{36}$/;

export const runs = new Hono<{ Bindings: Env }>();

runs.use("*", requireAdmin);

runs.get("/", async (c) => c.json({ runs: await listRuns(c.env, 100) }));

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

/** Rows of tasks per loss page at most: 1,000 tasks x K = 20 is ~200 KB of JSON. */
const MAX_LOSS_ROWS = 1000;

/**
 * `GET /v1/runs/:id/losses`: iteration (default the newest), offset (default 0), limit (default 200, at most 1,000).
 */
export const LossQuery = z.object({
  iteration: z.coerce.number().int().min(0).optional(),
  offset: z.coerce.number().int().min(0).default(0),
  limit: z.coerce.number().int().min(1).max(MAX_LOSS_ROWS).default(200),
});

/** An iteration's loss matrix, a page of tasks at a time (the run's summary leaves it out). */
runs.get("/:runId/losses", async (c) => {
  const parsed = LossQuery.safeParse(c.req.query());
  if (!parsed.success) throw new ApiError(400, "invalid_request", issueMessage(parsed.error.issues[0], "the query"));
  const { run, status } = await existingRun(c.env, c.req.param("runId"));
  const iteration = parsed.data.iteration ?? status.iteration;
  const page = await run.losses(iteration, parsed.data.offset, parsed.data.limit);
  if (!page)
    throw new ApiError(
      404,
      "unknown_iteration",
      `run ${status.runId} has no iteration ${iteration} (it has ${status.iterations.length})`,
    );
  return c.json(page);
});

/**
 * Server-sent events, served by the run's object. A GET with a body is refused before anything
 * reads it, and the object gets the URL and headers only: a body forwarded with the stream would
 * outlive the response that never reads it ("Can't read from request stream after response").
 */
runs.get("/:runId/events", async (c) => {
  if (c.req.raw.body !== null)
    throw new ApiError(400, "unexpected_body", "GET /v1/runs/:runId/events takes no request body");
  const { run } = await existingRun(c.env, c.req.param("runId"));
  return run.fetch(new Request(c.req.url, { headers: c.req.raw.headers, signal: c.req.raw.signal }));
});

runs.post("/:runId/cancel", async (c) => {
  const { run } = await existingRun(c.env, c.req.param("runId"));
  const { cancelled, status } = await run.cancel();
  if (!cancelled) throw new ApiError(409, "run_ended", `run ${c.req.param("runId")} already ended: ${status?.state}`);
  return c.json(status);
});

/**
 * Held-out exact match of every task under its result cluster's merged adapter, evaluated over
 * the queue like the run's own units and kept with the run: 202 while it runs (follow it with
 * GET .../report or GET /v1/runs/:id), 200 once done.
 */
runs.post("/:runId/report", async (c) => {
  const { run, status } = await existingRun(c.env, c.req.param("runId"));
  if (status.state !== "done" || !status.result)
    throw new ApiError(409, "run_not_done", `run ${status.runId} is ${status.state}; a report needs a finished run`);
  const byId = new Map((await catalogue(c.env).list()).tasks.map((t) => [t.id, t]));
  const missing = status.tasks.filter((id) => !byId.get(id)?.examples.test || !byId.get(id)?.examplesSha256.test);
  if (missing.length) throw new ApiError(409, "no_examples", `no test examples for task ${missing.join(", ")}`);
  const report = await run.requestReport(
    Object.fromEntries(status.tasks.map((id) => [id, byId.get(id)!.examplesSha256.test])),
  );
  return c.json(report, report.state === "running" ? 202 : 200, { location: `/v1/runs/${status.runId}/report` });
});

runs.get("/:runId/report", async (c) => {
  const { status } = await existingRun(c.env, c.req.param("runId"));
  if (!status.report)
    throw new ApiError(
      404,
      "no_report",
      `run ${status.runId} has no report yet: POST /v1/runs/${status.runId}/report starts one`,
    );
  return c.json(status.report);
});
