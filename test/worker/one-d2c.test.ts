/**
 * One D2C (issue 22): the Worker's run and the experiment's driver are the same algorithm. On the
 * reference world (r2-fixtures, 40 tasks), K = 5, seed 0, pruned (m = 2) and full, the real
 * ClusterRun (queue, consumer, loss cache) is checked two ways:
 *
 * 1. Replay, exact: `runD2C` (what bench/experiment/methods.ts runs) is driven over the Worker
 *    run's own losses (GET /v1/runs/:id/losses), each answer looked up in the iteration that asked
 *    for it. It must ask for exactly the pairs the Worker evaluated, iteration by iteration, and
 *    reach the same assignments, J, full sweeps and end; the Worker's forward passes must be the
 *    replay's pairs that no earlier evaluation in this file had measured (the loss cache). Same
 *    losses in, so any difference is the policy's, not onnxruntime's.
 * 2. Against the experiment itself: test/worker/d2c-trajectory.json, written by
 *    `npm run bench:trajectory` (onnxruntime-node in Node; workerd here runs onnxruntime-web), must
 *    show the same assignments, sweeps and forward passes, and J within 1e-5.
 */
import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { clustersOf } from "../../src/clustering/assignment";
import { runD2C } from "../../src/clustering/runD2C";
import type { LossPage } from "../../src/runs/status";
import { clusterRun } from "../../src/storage/runs";
import { call, finished, registerModel, uploadAdapter, uploadExamples, waitFor } from "./api";
import record from "./d2c-trajectory.json";

const TASKS = record.tasks;
const K = record.k;
/** (members, task) pairs some run in this file has measured: what the Worker's loss cache holds. */
const cached = new Set<string>();

beforeAll(async () => {
  expect((await registerModel()).status).toBe(201);
  for (const task of TASKS) {
    expect((await uploadAdapter(task)).status).toBe(201);
    expect((await uploadExamples(task, "fewshot")).status).toBe(201);
  }
}, 300_000);

interface WorkerIteration {
  readonly assignment: number[];
  /** losses[task][cluster], null where the Worker did not evaluate the pair. */
  readonly losses: (number | null)[][];
  readonly objective: number;
  readonly full: boolean;
  readonly units: number;
  readonly queued: number;
  readonly passes: number;
}

async function workerRun(prune: boolean) {
  const response = await call("/v1/runs", {
    method: "POST",
    body: JSON.stringify({
      tasks: TASKS,
      k: K,
      method: "d2c",
      seed: record.seed,
      maxIterations: record.maxIterations,
      merge: record.merge,
      prune,
      restarts: 1,
    }),
  });
  expect(response.status).toBe(202);
  const { runId } = (await response.json()) as { runId: string };
  const status = await waitFor(runId, finished, 900);
  expect(status.state).toBe("done");
  expect(status.tasks).toEqual(TASKS);
  const counts = await runInDurableObject(clusterRun(env, runId), (_, state) =>
    state.storage.sql
      .exec<{ iteration: number; queued: number; passes: number }>(
        "SELECT iteration, sum(source = 'queue') AS queued, coalesce(sum(passes), 0) AS passes FROM units " +
          "GROUP BY iteration ORDER BY iteration",
      )
      .toArray(),
  );
  const similarity = await runInDurableObject(clusterRun(env, runId), (_, state) => {
    const rows = state.storage.sql
      .exec<{ task: number; row: ArrayBuffer }>("SELECT task, row FROM similarity ORDER BY task")
      .toArray();
    return rows.length === TASKS.length ? rows.flatMap((r) => [...new Float64Array(r.row)]) : null;
  });
  const iterations: WorkerIteration[] = [];
  for (const it of status.iterations) {
    const page = (await (
      await call(`/v1/runs/${runId}/losses?iteration=${it.iteration}&limit=1000`)
    ).json()) as LossPage;
    iterations.push({
      assignment: page.rows.map((r) => r.cluster),
      losses: page.rows.map((r) => r.losses),
      objective: it.objective!,
      full: it.full,
      units: it.units,
      queued: counts[it.iteration].queued,
      passes: counts[it.iteration].passes,
    });
  }
  return { status, iterations, similarity };
}

/** The experiment's driver over the Worker's losses; throws where it asks for a pair the Worker never evaluated. */
async function replay(iterations: readonly WorkerIteration[], similarity: Float64Array, prune: boolean) {
  const asked = iterations.map(() => new Set<string>());
  const labels = iterations.map(
    (it) => new Map(clustersOf(it.assignment, K).map((members, c) => [members.join(","), c])),
  );
  const run = await runD2C({
    n: TASKS.length,
    k: K,
    start: iterations[0].assignment,
    similarity,
    maxIterations: record.maxIterations,
    prune: prune ? { m: 2 } : null,
    evaluate: (members, t, i) => {
      const c = labels[i]?.get(members.join(","));
      const loss = c === undefined ? null : iterations[i].losses[t][c];
      if (c === undefined || loss === null)
        throw new Error(`iteration ${i} asked for task ${t} under [${members}], which the Worker did not evaluate`);
      asked[i].add(`${t}:${c}`);
      return loss;
    },
  });
  return { run, asked };
}

describe("one D2C: the Worker's run is the experiment's driver", () => {
  // Pruned first: its cache starts empty, as the experiment's does.
  for (const [name, prune] of [
    ["pruned (m = 2)", true],
    ["full", false],
  ] as const) {
    const title = `${name}: the same pairs, assignments, J, sweeps and forward passes, K = ${K}, seed ${record.seed}`;
    it(title, async () => {
      const worker = await workerRun(prune);
      const { iterations } = worker;
      // A pruned run keeps the similarities its ranking falls back on; a full run never ranks (its replay reads none).
      if (prune) expect(worker.similarity).not.toBeNull();
      const similarity = worker.similarity ? new Float64Array(worker.similarity) : new Float64Array(TASKS.length ** 2);
      const { run, asked } = await replay(iterations, similarity, prune);

      expect(run.iterations).toHaveLength(iterations.length);
      expect(run.fixedPoint).toBe(true);
      run.iterations.forEach((mine, i) => {
        const theirs = iterations[i];
        expect(mine.assignment, `iteration ${i}`).toEqual(theirs.assignment);
        expect(mine.objective, `iteration ${i}`).toBe(theirs.objective);
        expect(mine.full, `iteration ${i}`).toBe(theirs.full);
        expect(mine.evaluations, `iteration ${i}`).toBe(theirs.units);
        const evaluated = theirs.losses.flatMap((row, t) => row.flatMap((l, c) => (l === null ? [] : [`${t}:${c}`])));
        expect([...asked[i]].sort(), `iteration ${i}`).toEqual(evaluated.sort());
        // Forward passes: the asked pairs no earlier evaluation measured (one batch of few-shot examples each).
        const members = clustersOf(theirs.assignment, K).map((m) => m.join(","));
        const fresh = [...asked[i]]
          .map((p) => p.split(":").map(Number))
          .map(([t, c]) => `${members[c]}|${t}`)
          .filter((key) => !cached.has(key));
        expect(theirs.queued, `iteration ${i}`).toBe(fresh.length);
        expect(theirs.passes, `iteration ${i}`).toBe(fresh.length);
        fresh.forEach((key) => cached.add(key));
      });
      // The iteration kept: the lowest J, the first of equals.
      const best = run.iterations.findIndex((i) => i.objective === Math.min(...run.iterations.map((x) => x.objective)));
      expect(worker.status.result!.iteration).toBe(best);

      // The experiment's own run (onnxruntime-node): the same trajectory.
      const expected = record.runs.find((r) => (r.prune !== null) === prune)!;
      expect(iterations.map((i) => i.assignment)).toEqual(expected.iterations.map((i) => i.assignment));
      expect(iterations.map((i) => ({ full: i.full, units: i.units }))).toEqual(
        expected.iterations.map((i) => ({ full: i.full, units: i.evaluations })),
      );
      iterations.forEach((it, i) =>
        expect(Math.abs(it.objective - expected.iterations[i].objective), `iteration ${i}`).toBeLessThan(1e-5),
      );
      // From an empty cache (the pruned run, first in this file): the experiment's passes, iteration by iteration.
      if (prune) expect(iterations.map((i) => i.passes)).toEqual(expected.iterations.map((i) => i.forwardPasses));
    }, 1_200_000);
  }
});
