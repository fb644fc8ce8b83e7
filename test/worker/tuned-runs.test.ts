/**
 * Merge tuning through the real ClusterRun, Queue and consumers (issue 15): after D2C, each
 * cluster's merge weights are tuned on its tasks' few-shot loss, candidates fanned out as queue
 * messages; the weights kept lower the cluster's few-shot loss against uniform weights, measured
 * afresh through POST /v1/evaluate, and the run is reproducible for a seed.
 */
import { beforeAll, describe, expect, it } from "vitest";
import type { RunStatus } from "../../src/runs/status";
import { call, finished, registerModel, uploadAdapter, uploadExamples, waitFor } from "./api";

const TASKS = ["gec-de", "gec-fr", "gec-ja", "reply-de", "reply-fr", "reply-ja"];
// A small tuning: svd only, screened at 1, 1.5 and 2 times uniform weights, then 8 CMA-ES candidates per fold.
const TUNED = {
  k: 2,
  method: "d2c",
  seed: 1,
  restarts: 1,
  tasks: TASKS,
  merge: { method: "svd", tune: { budget: 8, folds: 2, densities: [] } },
};

beforeAll(async () => {
  expect((await registerModel()).status).toBe(201);
  for (const task of TASKS) {
    expect((await uploadAdapter(task)).status).toBe(201);
    expect((await uploadExamples(task, "fewshot")).status).toBe(201);
  }
});

async function run(body: unknown): Promise<RunStatus> {
  const response = await call("/v1/runs", { method: "POST", body: JSON.stringify(body) });
  expect(response.status, await response.clone().text()).toBe(202);
  return waitFor(((await response.json()) as { runId: string }).runId, finished, 240);
}

/** Mean few-shot loss of `tasks` under a merged adapter, evaluated afresh by the Worker. */
async function fewShotLoss(tasks: readonly string[], sha256: string): Promise<number> {
  let sum = 0;
  for (const task of tasks) {
    const response = await call("/v1/evaluate", {
      method: "POST",
      body: JSON.stringify({ task, adapter: sha256, split: "fewshot" }),
    });
    sum += ((await response.json()) as { loss: number }).loss;
  }
  return sum / tasks.length;
}

describe("a tuned run", () => {
  let first: RunStatus;

  it(
    "tunes each cluster's merge over the Queue; the weights it ships lower the cluster's few-shot " +
      "loss against uniform ones",
    async () => {
      first = await run(TUNED);
      expect(first.state, first.reason ?? "").toBe("done");
      const result = first.result!;
      const uniform = first.iterations[result.iteration].clusters;
      expect(first.cost.tuning.candidates).toBeGreaterThan(0);
      let moved = 0;
      for (const cluster of result.clusters) {
        if (cluster.tasks.length < 2) continue;
        const tuned = cluster.tuned!;
        expect(tuned.weights).toHaveLength(cluster.tasks.length);
        expect(tuned.merge.method).toBe("svd");
        // Tuned weights ship only where they beat the screened start on held-back examples.
        if (tuned.weightsKept) expect(tuned.heldBackTuned).toBeLessThan(tuned.heldBackScreened);
        if (tuned.weights.every((w) => Math.abs(w - 1 / cluster.tasks.length) < 1e-12)) {
          expect(cluster.sha256).toBe(uniform[cluster.cluster].sha256);
          continue;
        }
        moved++;
        // Measured afresh by the Worker, on every few-shot example: lower than under uniform weights.
        expect(await fewShotLoss(cluster.tasks, cluster.sha256)).toBeLessThan(
          await fewShotLoss(cluster.tasks, uniform[cluster.cluster].sha256),
        );
      }
      expect(moved).toBeGreaterThan(0);
      // What ships is what was tuned: J is the tuned merges' few-shot loss, below the uniform one.
      expect(result.objective).toBeLessThan(result.untunedObjective!);
    },
  );

  it("is reproducible for a seed: the same weights and adapters again", async () => {
    const again = await run(TUNED);
    expect(again.result!.clusters.map((c) => [c.sha256, c.tuned?.weights])).toEqual(
      first.result!.clusters.map((c) => [c.sha256, c.tuned?.weights]),
    );
  });

  it("refuses tuning settings out of range, naming them", async () => {
    const response = await call("/v1/runs", {
      method: "POST",
      body: JSON.stringify({ ...TUNED, merge: { method: "svd", tune: { folds: 1 } } }),
    });
    expect(response.status).toBe(400);
    expect(await response.text()).toContain("folds");
    expect(
      (
        await call("/v1/runs", {
          method: "POST",
          body: JSON.stringify({ ...TUNED, merge: { method: "svd", tune: { scales: [1.5, 2] } } }),
        })
      ).status,
    ).toBe(400);
  });
});
