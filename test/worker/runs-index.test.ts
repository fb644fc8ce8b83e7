/**
 * The runs index (`GET /v1/runs`) says how each run went: state, J, held-out exact match, duration
 * and cost, written by the run's end and its report's end over the real local Queue, read once from
 * the run for a row that predates them. Runs advance on their own; the tests poll with a bound.
 */
import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import type { RunSummary } from "../../src/runs/config";
import { catalogue } from "../../src/storage/catalogue";
import type { RunStatus } from "../../src/runs/status";
import { call, seedTasks, statusOf, until, waitFor } from "./api";

const TASKS = ["gec-de", "gec-fr", "reply-de", "reply-fr"];

beforeAll(() => seedTasks(TASKS));

async function startRun(body: Record<string, unknown>): Promise<string> {
  const response = await call("/v1/runs", { method: "POST", body: JSON.stringify({ tasks: TASKS, ...body }) });
  expect(response.status).toBe(202);
  return ((await response.json()) as { runId: string }).runId;
}

const listed = async (runId: string) =>
  ((await (await call("/v1/runs")).json()) as { runs: RunSummary[] }).runs.find((r) => r.runId === runId);
/** The Catalogue's own row, as the queue's messages left it (no listing reads the run for it). */
const indexed = async (runId: string) => (await catalogue(env).runs(100)).find((r) => r.runId === runId);

describe("the runs index", () => {
  it("records a finished run's state, J, duration and cost, then its report's held-out score", async () => {
    const runId = await startRun({ k: 2, method: "kmeans", seed: 0 });
    expect(await indexed(runId)).toMatchObject({ runId, state: "running", method: "kmeans", k: 2, tasks: 4 });
    const status = await waitFor(runId);
    expect(status.state).toBe("done");
    // The run-finished message writes the row; nothing else does while no one lists the runs.
    const row = await until(
      () => indexed(runId),
      (r) => r?.state === "done",
      30_000,
    );
    expect(row).toEqual({
      runId,
      // The request's time (the run's object stamps its own start a moment later).
      createdAt: expect.any(String),
      method: "kmeans",
      k: 2,
      tasks: 4,
      state: "done",
      objective: status.result!.objective,
      finishedAt: status.finishedAt,
      durationSeconds: status.ms / 1000,
      estimatedUsd: status.cost.estimate.usd,
    });
    expect(row!.durationSeconds).toBeGreaterThan(0);
    expect(await listed(runId)).toEqual(row);

    expect((await call(`/v1/runs/${runId}/report`, { method: "POST" })).status).toBe(202);
    const scored = await until(
      () => indexed(runId),
      (r) => r?.heldOut !== undefined,
      60_000,
    );
    const report = ((await (await call(`/v1/runs/${runId}`)).json()) as RunStatus).report!;
    expect(report.state).toBe("done");
    expect(scored!.heldOut).toBe(report.meanExactMatch);
    expect(scored!.heldOut).toBeGreaterThan(0);

    // Cancelling the ended run is refused and changes nothing, in the run or in the index.
    const cancel = await call(`/v1/runs/${runId}/cancel`, { method: "POST" });
    expect(cancel.status).toBe(409);
    expect(((await cancel.json()) as { error: { code: string } }).error.code).toBe("run_ended");
    expect((await statusOf(runId)).state).toBe("done");
    expect(await indexed(runId)).toEqual(scored);
  });

  it("records a cancelled run as cancelled, with no J", async () => {
    const runId = await startRun({ k: 2, method: "d2c", seed: 3, restarts: 1 });
    expect((await call(`/v1/runs/${runId}/cancel`, { method: "POST" })).status).toBe(200);
    const row = await until(
      () => indexed(runId),
      (r) => r?.state !== "running",
      30_000,
    );
    expect(row).toMatchObject({ state: "cancelled", finishedAt: expect.any(String) });
    expect(row!.objective).toBeUndefined();
    expect(row!.durationSeconds).toBeGreaterThanOrEqual(0);
  });

  it("reads the outcome of a row indexed before the index kept outcomes from its run, once", async () => {
    const runId = await startRun({ k: 2, method: "random", seed: 1 });
    await waitFor(runId);
    await until(
      () => indexed(runId),
      (r) => r?.state === "done",
      30_000,
    );
    // As migration 4 leaves a row from before it: no outcome columns.
    await runInDurableObject(catalogue(env), (_, state) =>
      state.storage.sql.exec("UPDATE runs SET state = NULL, objective = NULL, finished_at = NULL WHERE id = ?", runId),
    );
    expect((await indexed(runId))!.state).toBeUndefined();
    expect(await listed(runId)).toMatchObject({ state: "done", objective: expect.any(Number) });
    // The listing wrote what it read: the row is whole again without another read of the run.
    expect(await indexed(runId)).toMatchObject({ state: "done", objective: expect.any(Number) });
  });
});
