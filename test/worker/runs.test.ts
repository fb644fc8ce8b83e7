/**
 * Clustering runs end to end: the real ClusterRun Durable Object, its alarms, the real local
 * Queue and its consumer (src/queue.ts), R2 and the Catalogue. Runs advance on their own; the
 * tests poll their status with a bound.
 */
import {
  abortAllDurableObjects,
  createExecutionContext,
  createMessageBatch,
  evictDurableObject,
  getQueueResult,
  runDurableObjectAlarm,
  runInDurableObject,
} from "cloudflare:test";
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { forwardPassesRun } from "../../src/inference/forward";
import { queue } from "../../src/queue";
import type { QueueMessage } from "../../src/queueMessages";
import { examplesKey } from "../../src/storage/keys";
import { clusterRun } from "../../src/storage/runs";
import type { LossPage, ReportView, RunStatus } from "../../src/runs/status";
import type { RunConfig } from "../../src/runs/config";
import { defaultRestarts } from "../../src/runs/start";
import { unitMessages, type EvaluationUnit } from "../../src/runs/unit";
import { ADMIN, call, finished, seedTasks, statusOf, until, uploadAdapter, uploadExamples, waitFor } from "./api";

type ErrorBody = { error: { code: string; message: string } };

/** Two applications x four languages: D2C should find structure here. */
const TASKS = ["gec-de", "gec-fr", "gec-ja", "gec-en", "reply-de", "reply-fr", "reply-ja", "reply-en"];

beforeAll(() => seedTasks(TASKS));

/** One start unless the test says (the default restarts are their own test). */
async function startRun(body: Record<string, unknown>): Promise<string> {
  const response = await call("/v1/runs", {
    method: "POST",
    body: JSON.stringify({ tasks: TASKS, restarts: 1, ...body }),
  });
  expect(response.status).toBe(202);
  return ((await response.json()) as { runId: string }).runId;
}

const evaluating = (s: RunStatus) =>
  s.phase === "evaluate" && s.cost.units > 0 && s.cost.units > s.cost.cacheHits + s.cost.forwardPasses;

describe("a D2C run", () => {
  it("clusters 8 tasks into K=2 through the queue and reports held-out exact match", async () => {
    const runId = await startRun({ k: 2, method: "d2c", seed: 7 });
    // Opened while the run works: the stream carries its events live and closes when it ends.
    const live = (await call(`/v1/runs/${runId}/events`)).text();
    const status = await waitFor(runId, finished);
    expect(status.state).toBe("done");
    expect(status.result!.clusters).toHaveLength(2);
    expect(Object.keys(status.result!.assignment).sort()).toEqual([...TASKS].sort());
    // D2C evaluates every task under every cluster and keeps the best J it saw.
    const first = (await (await call(`/v1/runs/${runId}/losses?iteration=0`)).json()) as LossPage;
    expect(first.rows.map((r) => r.task)).toEqual(status.tasks);
    expect(first.rows.flatMap((r) => r.losses).every((l) => typeof l === "number" && l > 0)).toBe(true);
    expect(status.iterations[0]).toMatchObject({ units: TASKS.length * 2, evaluated: TASKS.length * 2 });
    expect(status.result!.objective).toBeLessThanOrEqual(Math.min(...status.iterations.map((i) => i.objective!)));
    expect(status.cost.forwardPasses).toBeGreaterThan(0);
    expect(status.cost.units).toBe(status.cost.cacheHits + status.cost.forwardPasses);
    // The bill: measured evaluation time and messages, priced line by line (src/runs/price.ts).
    expect(status.cost.evaluationMs).toBeGreaterThan(0);
    // Units under one merged adapter share a message (at most 16 each): 8 tasks x 2 clusters are not 16 messages.
    expect(status.cost.messages).toBeGreaterThan(0);
    expect(status.cost.messages).toBeLessThan(status.cost.units - status.cost.cacheHits);
    const { estimate } = status.cost;
    expect(estimate.lines.map((l) => l.item)).toEqual(
      expect.arrayContaining([
        "Workers CPU time (evaluation)",
        "Queue operations",
        "Durable Object requests",
        "R2 Class B (adapters and examples read)",
      ]),
    );
    expect(estimate.lines.find((l) => l.item === "Queue operations")!.quantity).toBe(3 * status.cost.messages);
    expect(estimate.usd).toBeCloseTo(
      estimate.lines.reduce((s, l) => s + l.usd, 0),
      12,
    );
    expect(estimate.usd).toBeGreaterThan(0);
    // Merged adapters exist in R2 before the run names them.
    for (const c of status.result!.clusters)
      expect(await env.BUCKET.head(`merged/${c.sha256}/adapter_model.safetensors`)).not.toBeNull();

    const events = await live;
    expect(events).toContain("event: started");
    expect(events).toContain("event: progress");
    expect(events).toContain("event: done");
    const replay = await (
      await call(`/v1/runs/${runId}/events`, { headers: { ...ADMIN, "last-event-id": "1" } })
    ).text();
    expect(replay).not.toContain("event: started");
    expect(replay).toContain("event: done");

    // The report goes over the queue: 202 at once, then GET it until every task reported.
    expect((await call(`/v1/runs/${runId}/report`)).status).toBe(404);
    const passesBefore = forwardPassesRun();
    const report = await call(`/v1/runs/${runId}/report`, { method: "POST" });
    expect(report.status).toBe(202);
    expect((await report.json()) as ReportView).toMatchObject({ state: "running", total: TASKS.length });
    let held = (await (await call(`/v1/runs/${runId}/report`)).json()) as ReportView;
    for (
      const deadline = Date.now() + 60_000;
      held.state === "running" && Date.now() < deadline;
      await scheduler.wait(50)
    ) {
      held = (await (await call(`/v1/runs/${runId}/report`)).json()) as ReportView;
    }
    expect(held.state).toBe("done");
    expect(held.tasks.map((t) => t.task)).toEqual([...TASKS].sort());
    expect(held.tasks.every((t) => t.examples === 100 && t.cluster === status.result!.assignment[t.task])).toBe(true);
    expect(held.meanExactMatch).toBeGreaterThan(0);
    // 100 held-out examples per task are ceil(100 / 32) = 4 passes, as the evaluator counted them.
    expect(held.forwardPasses).toBe(TASKS.length * 4);
    expect(forwardPassesRun() - passesBefore).toBe(held.forwardPasses);
    expect((await statusOf(runId)).report).toEqual(held);
    // Asked again: the stored report, 200, nothing evaluated again.
    const again = await call(`/v1/runs/${runId}/report`, { method: "POST" });
    expect(again.status).toBe(200);
    expect(await again.json()).toEqual(held);
    expect(forwardPassesRun() - passesBefore).toBe(held.forwardPasses);
    // The same number through /v1/evaluate with the merged adapter's digest.
    const one = held.tasks[0];
    const direct = await call("/v1/evaluate", {
      method: "POST",
      body: JSON.stringify({ task: one.task, adapter: status.result!.clusters[one.cluster].sha256, split: "test" }),
    });
    expect(((await direct.json()) as { exactMatch: number }).exactMatch).toBe(one.exactMatch);
  });

  it(
    "pruned by default: later iterations evaluate fewer pairs, and the run ends on a full sweep " +
      "where no task prefers another cluster",
    async () => {
      const k = 4; // m = 2 other clusters per task: pruning is active from K = 4
      const runId = await startRun({ k, method: "d2c", seed: 11, cache: false, maxIterations: 10 });
      const status = await waitFor(runId, finished, 120);
      expect(status.state).toBe("done");
      expect(status.iterations[0]).toMatchObject({ full: true, units: TASKS.length * k });
      // own + 2 others
      for (const i of status.iterations.filter((i) => !i.full)) expect(i.units).toBe(TASKS.length * 3);
      const last = status.iterations.at(-1)!;
      expect(last.full).toBe(true);
      // The units the run counted are the ones evaluated: fewer than the naive schedule once an iteration was pruned.
      expect(status.cost.units).toBe(status.iterations.reduce((s, i) => s + i.units, 0));
      if (status.iterations.some((i) => !i.full)) expect(status.cost.units).toBeLessThan(status.cost.naiveUnits);
      // The fixed point: under the final full sweep, every task's own cluster is its best.
      const page = (await (
        await call(`/v1/runs/${runId}/losses?iteration=${last.iteration}&limit=1000`)
      ).json()) as LossPage;
      const final = (await (await call(`/v1/runs/${runId}`)).json()) as RunStatus;
      const assignment = Object.fromEntries(page.rows.map((r) => [r.task, r.cluster]));
      for (const row of page.rows)
        expect(Math.min(...(row.losses as number[]))).toBe((row.losses as number[])[assignment[row.task]]);
      if (final.result!.iteration === last.iteration) expect(final.result!.assignment).toEqual(assignment);
    },
  );

  it(
    "ranks a pruned first iteration by task similarity when asked, " + "and still ends on a full-sweep fixed point",
    async () => {
      const bad = await call("/v1/runs", {
        method: "POST",
        body: JSON.stringify({ tasks: TASKS, k: 4, prune: { m: -1 } }),
      });
      expect(bad.status).toBe(400);
      expect(((await bad.json()) as ErrorBody).error.message).toContain("prune");
      // 8 tasks in 4 clusters would get a full first iteration by default (clusters of 2); fullFirst: false asks for a
      // pruned one.
      const runId = await startRun({
        k: 4,
        method: "d2c",
        seed: 11,
        cache: false,
        maxIterations: 10,
        prune: { fullFirst: false },
      });
      const status = await waitFor(runId, finished, 120);
      expect(status.state).toBe("done");
      // A pruned sweep that moves nothing is widened within its iteration (then full; its event names the pruned
      // units).
      const events = await (await call(`/v1/runs/${runId}/events`)).text();
      const widened = [...events.matchAll(/event: widened\ndata: (.*)\n/g)].map(
        (m) => JSON.parse(m[1]) as { iteration: number; units: number },
      );
      if (status.iterations[0].full) expect(widened[0]).toEqual({ iteration: 0, units: TASKS.length * 3 });
      else expect(status.iterations[0]).toMatchObject({ full: false, units: TASKS.length * 3 });
      // The similarities the k-means start computed are kept for the ranking, one row per task.
      const rows = await runInDurableObject(clusterRun(env, runId), (_, state) =>
        state.storage.sql
          .exec<{ task: number; bytes: number }>("SELECT task, length(row) AS bytes FROM similarity ORDER BY task")
          .toArray(),
      );
      expect(rows).toEqual(TASKS.map((_, task) => ({ task, bytes: 8 * TASKS.length })));
      const last = status.iterations.at(-1)!;
      expect(last.full).toBe(true);
      const page = (await (
        await call(`/v1/runs/${runId}/losses?iteration=${last.iteration}&limit=1000`)
      ).json()) as LossPage;
      for (const row of page.rows)
        expect(Math.min(...(row.losses as number[]))).toBe((row.losses as number[])[row.cluster]);
    },
  );

  it(
    "restarts from seeded k-means starts in one run, sharing the loss cache, " + "and keeps the lowest J of all",
    async () => {
      const single = await waitFor(await startRun({ k: 3, method: "d2c", seed: 5, maxIterations: 10 }), finished, 120);
      const status = await waitFor(
        await startRun({ k: 3, method: "d2c", seed: 5, maxIterations: 10, restarts: 3, restartCriterion: "loss" }),
        finished,
        180,
      );
      expect(status).toMatchObject({ state: "done", restarts: 3, restartCriterion: "loss" });
      const restarts = [...new Set(status.iterations.map((i) => i.restart))];
      expect(restarts).toEqual([0, 1, 2]);
      // Restart 0 is the single-start run, iteration for iteration.
      expect(status.iterations.filter((i) => i.restart === 0).map((i) => i.objective)).toEqual(
        single.iterations.map((i) => i.objective),
      );
      // Each later trajectory ends on its own full-sweep fixed point (or maxIterations) before the next starts.
      for (const r of [1, 2]) expect(status.iterations.filter((i) => i.restart === r).at(-1)!.full).toBe(true);
      const best = Math.min(...status.iterations.map((i) => i.objective!));
      expect(status.result!.objective).toBe(best);
      expect(best).toBeLessThanOrEqual(single.result!.objective);
      // Restart 0 repeats the single-start run, whose losses the cache kept: no forward pass for those.
      expect(status.cost.cacheHits).toBeGreaterThan(0);

      // By default the trajectory kept is the one whose best iteration gets the most few-shot examples right (J breaks
      // ties).
      const byExactMatch = await waitFor(
        await startRun({ k: 3, method: "d2c", seed: 5, maxIterations: 10, restarts: 3 }),
        finished,
        180,
      );
      expect(byExactMatch.restartCriterion).toBe("exactMatch");
      const bests = [0, 1, 2].map((r) =>
        byExactMatch.iterations.filter((i) => i.restart === r).reduce((a, b) => (b.objective! < a.objective! ? b : a)),
      );
      expect(bests.every((b) => typeof b.fewShotExactMatch === "number")).toBe(true);
      const kept = bests.reduce((a, b) =>
        b.fewShotExactMatch! > a.fewShotExactMatch! ||
        (b.fewShotExactMatch === a.fewShotExactMatch && b.objective! < a.objective!)
          ? b
          : a,
      );
      expect(byExactMatch.result!.iteration).toBe(kept.iteration);
    },
  );

  it("restarts 4 times by default up to 200 tasks and once above; a baseline starts once", async () => {
    const started = await call("/v1/runs", {
      method: "POST",
      body: JSON.stringify({ tasks: TASKS, k: 2, method: "d2c", seed: 23 }),
    });
    const { runId } = (await started.json()) as { runId: string };
    expect((await statusOf(runId)).restarts).toBe(4);
    expect((await call(`/v1/runs/${runId}/cancel`, { method: "POST" })).status).toBe(200);
    expect((await statusOf(await startRun({ k: 2, method: "kmeans", restarts: undefined }))).restarts).toBe(1);
    expect([40, 200, 201, 1000].map(defaultRestarts)).toEqual([4, 4, 1, 1]);
  });

  it("sends again the units that never reported, from its alarm", async () => {
    const runId = await startRun({
      k: 4,
      method: "d2c",
      seed: 17,
      maxIterations: 1,
      merge: { method: "svd", rank: 6 },
    });
    const run = clusterRun(env, runId);
    await waitFor(runId, evaluating);
    // Pretend the units not yet claimed were sent long ago and lost: claimed, as by a consumer that died, so their
    // deliveries are dropped as duplicates, and nothing can report them until the alarm re-sends them.
    const inRun = <T>(read: (sql: SqlStorage) => T) => runInDurableObject(run, (_, state) => read(state.storage.sql));
    const open = "kind = 'unit' AND done_at IS NULL";
    const { lost, inFlight } = await inRun((sql) => ({
      inFlight: sql.exec<{ id: string }>(`SELECT id FROM work WHERE ${open} AND claimed_at IS NOT NULL`).toArray(),
      lost: sql.exec(`UPDATE work SET sent_at = 0, claimed_at = ? WHERE ${open} AND claimed_at IS NULL`, Date.now())
        .rowsWritten,
    }));
    expect(lost).toBeGreaterThan(0);
    // The evaluations already running report; from then on the queue has been silent since long ago.
    const running = JSON.stringify(inFlight.map((u) => u.id));
    const stillRunning =
      "SELECT count(*) AS n FROM work WHERE done_at IS NULL AND id IN (SELECT value FROM json_each(?))";
    await until(
      () => inRun((sql) => sql.exec<{ n: number }>(stillRunning, running).one().n),
      (n) => n === 0,
    );
    await inRun((sql) => sql.exec("UPDATE work SET done_at = 1 WHERE done_at IS NOT NULL"));
    expect(await runDurableObjectAlarm(run)).toBe(true);
    const resent = await runInDurableObject(
      run,
      (_, state) =>
        state.storage.sql
          .exec<{ n: number }>("SELECT count(*) AS n FROM work WHERE kind = 'unit' AND attempts = 2")
          .one().n,
    );
    expect(resent).toBeGreaterThan(0);
    const status = await waitFor(runId, finished);
    expect(status.state).toBe("done");
    expect(await (await call(`/v1/runs/${runId}/events`)).text()).toContain("event: resent");
  });

  it("waits, re-sending nothing, while the queue still reports: a backlog is not a loss", async () => {
    const runId = await startRun({
      k: 4,
      method: "d2c",
      seed: 19,
      maxIterations: 1,
      merge: { method: "svd", rank: 6 },
    });
    const run = clusterRun(env, runId);
    await waitFor(runId, evaluating);
    // Units sent long ago, but one reported a moment ago (at N = 1,000 a phase queues minutes of work).
    const overdue = await runInDurableObject(run, (_, state) => {
      const sql = state.storage.sql;
      const open = sql.exec<{ id: string }>("SELECT id FROM work WHERE kind = 'unit' AND done_at IS NULL").toArray();
      sql.exec("UPDATE work SET done_at = ? WHERE id = ?", Date.now(), open[0].id);
      return sql.exec("UPDATE work SET sent_at = 0 WHERE kind = 'unit' AND done_at IS NULL").rowsWritten;
    });
    expect(overdue).toBeGreaterThan(0);
    await runDurableObjectAlarm(run);
    const resent = await runInDurableObject(
      run,
      (_, state) => state.storage.sql.exec<{ n: number }>("SELECT count(*) AS n FROM work WHERE attempts > 1").one().n,
    );
    expect(resent).toBe(0);
    // The unit marked done above never counts off its iteration: the run is stopped here.
    expect((await call(`/v1/runs/${runId}/cancel`, { method: "POST" })).status).toBe(200);
  });

  it("resumes after its object is evicted and aborted mid-iteration, with the undisturbed result", async () => {
    const config = { k: 2, method: "d2c", seed: 3, merge: { method: "ties_svd", density: 0.5 } };
    const disturbed = await startRun(config);
    await waitFor(disturbed, evaluating);
    await evictDurableObject(clusterRun(env, disturbed));
    await waitFor(disturbed, (s) => s.iteration >= 1 || finished(s));
    await abortAllDurableObjects();
    const resumed = await waitFor(disturbed, finished);
    // Same seed, evaluated afresh (cache off): the same numbers, so the same clusters.
    const undisturbed = await waitFor(await startRun({ ...config, cache: false }), finished);
    expect(resumed.state).toBe("done");
    expect(undisturbed.cost.cacheHits).toBe(0);
    expect(undisturbed.cost.forwardPasses).toBe(undisturbed.cost.units);
    expect(resumed.result!.assignment).toEqual(undisturbed.result!.assignment);
    expect(resumed.result!.objective).toBe(undisturbed.result!.objective);
  });

  it("counts a unit delivered twice once: the duplicate runs no forward pass", async () => {
    const config = {
      k: 3,
      method: "d2c",
      seed: 5,
      merge: { method: "magnitude_prune_svd", density: 0.5 },
      cache: false,
    };
    const passesBefore = forwardPassesRun();
    const runId = await startRun(config);
    await waitFor(runId, evaluating);
    // Exact copies of every unit of the first iteration, grouped as the run groups them, sent while the originals are
    // in flight.
    const units = await runInDurableObject(clusterRun(env, runId), (_, state) => {
      const sql = state.storage.sql;
      const run = JSON.parse(sql.exec<{ config: string }>("SELECT config FROM run").one().config) as RunConfig;
      const merged = sql
        .exec<{ sha256: string }>("SELECT sha256 FROM clusters WHERE iteration = 0 ORDER BY cluster")
        .toArray()
        .map((c) => c.sha256);
      return sql
        .exec<{ id: string; task: number; cluster: number }>(
          "SELECT * FROM units WHERE iteration = 0 AND source = 'queue'",
        )
        .toArray()
        .map(
          (u): EvaluationUnit => ({
            runId,
            unitId: u.id,
            modelId: run.modelId,
            taskId: run.tasks[u.task].id,
            split: "fewshot",
            examplesSha256: run.tasks[u.task].fewshotSha256,
            mergedSha256: merged[u.cluster],
          }),
        );
    });
    expect(units.length).toBeGreaterThan(0);
    // The copies go through the consumer here, the originals through the real queue, in any order.
    const copies = unitMessages("unit", units).map((body, i) => ({
      id: `copy-${i}`,
      timestamp: new Date(),
      attempts: 1,
      body,
    }));
    const batch = createMessageBatch<QueueMessage>("evaluations", copies);
    const ctx = createExecutionContext();
    await queue(batch, env);
    // Every copy was handled for good (evaluated or dropped), none left for a retry.
    const outcome = await getQueueResult(batch, ctx);
    expect(outcome.retryMessages).toEqual([]);
    expect([...outcome.explicitAcks].sort()).toEqual(copies.map((c) => c.id).sort());
    const duplicated = await waitFor(runId, finished);
    const passesRun = forwardPassesRun() - passesBefore;
    const reference = await waitFor(await startRun(config), finished);
    expect(duplicated.state).toBe("done");
    // The evaluator ran one pass per unit (10 few-shot examples are one batch): no copy was evaluated.
    expect(duplicated.cost.cacheHits).toBe(0);
    expect(passesRun).toBe(duplicated.cost.units);
    expect(duplicated.cost.forwardPasses).toBe(passesRun);
    // The same clusters as a clean run, itself evaluated afresh.
    expect(reference.cost.cacheHits).toBe(0);
    expect(duplicated.result!.assignment).toEqual(reference.result!.assignment);
    expect(duplicated.result!.objective).toBe(reference.result!.objective);
  });

  it("fails with the unit's reason when a unit keeps failing, through retries and the dead-letter queue", async () => {
    // Examples replaced behind the API's back: a run pins the catalogue's digest, so every attempt fails.
    expect((await uploadAdapter("qa-de")).status).toBe(201);
    expect((await uploadExamples("qa-de", "fewshot")).status).toBe(201);
    await env.BUCKET.put(examplesKey("qa-de", "fewshot"), '{"prompt":"x","completion":"y"}\n');
    const response = await call("/v1/runs", {
      method: "POST",
      body: JSON.stringify({ tasks: [...TASKS, "qa-de"], k: 2, method: "kmeans", seed: 11 }),
    });
    const { runId } = (await response.json()) as { runId: string };
    const status = await waitFor(runId, finished, 120);
    expect(status.state).toBe("failed");
    expect(status.reason).toContain("qa-de");
    expect(status.reason).toContain("changed since the run started");
  });

  it("stops when cancelled", async () => {
    const runId = await startRun({ k: 4, method: "d2c", seed: 13, merge: { method: "svd", rank: 2 } });
    const cancel = await call(`/v1/runs/${runId}/cancel`, { method: "POST" });
    expect(cancel.status).toBe(200);
    expect(((await cancel.json()) as RunStatus).state).toBe("cancelled");
    const alarm = await runInDurableObject(clusterRun(env, runId), (_, state) => state.storage.getAlarm());
    expect(alarm).toBeNull();
    expect((await statusOf(runId)).state).toBe("cancelled");
  });
});

describe("run requests", () => {
  const cases: Array<[string, Record<string, unknown>, number, string]> = [
    ["k below 1", { k: 0 }, 400, "k"],
    ["k above the task count", { k: 9 }, 400, "more than the 8 tasks"],
    ["unknown method", { k: 2, method: "spectral" }, 400, "method"],
    ["unknown merge", { k: 2, merge: { method: "mean" } }, 400, "merge.method"],
    ["unknown task", { k: 2, tasks: ["gec-de", "gec-xx"] }, 404, "gec-xx"],
    ["unknown profile", { profile: "nope" }, 404, "no profile nope"],
    ["both k and budget", { k: 2, budget: { maxAdapters: 2 } }, 400, "exactly one of k, budget and profile"],
    ["budget below one adapter", { budget: { maxBytes: 1000 } }, 422, "does not hold one adapter"],
    [
      "restarts of a baseline",
      { k: 2, method: "kmeans", restarts: 2 },
      400,
      "restarts: only a D2C run from a k-means start restarts, not method kmeans",
    ],
    ["restarts above 16", { k: 2, restarts: 17 }, 400, "restarts"],
  ];
  for (const [name, body, status, message] of cases) {
    it(`refuses ${name}`, async () => {
      const response = await call("/v1/runs", { method: "POST", body: JSON.stringify({ tasks: TASKS, ...body }) });
      expect(response.status).toBe(status);
      expect(((await response.json()) as ErrorBody).error.message).toContain(message);
    });
  }

  it("derives K from a byte budget", async () => {
    // fp16 rank 8 over 16 targets of 128 x 128: 16 * 8 * 256 * 2 = 65,536 bytes per adapter.
    const response = await call("/v1/runs", {
      method: "POST",
      body: JSON.stringify({ tasks: TASKS, budget: { maxBytes: 3 * 65_536 + 100 } }),
    });
    expect(response.status).toBe(202);
    const { runId, k } = (await response.json()) as { runId: string; k: number };
    expect(k).toBe(3);
    await call(`/v1/runs/${runId}/cancel`, { method: "POST" });
  });

  it("answers 404 for an unknown run", async () => {
    const response = await call(`/v1/runs/run-${crypto.randomUUID()}`);
    expect(response.status).toBe(404);
  });
});
