/**
 * Runs that cannot be trusted fail fast and blame the right task: an adapter whose effective
 * factors are unusable, a unit whose loss comes back non-finite, a task deleted or replaced in
 * the catalogue while the run uses it. Real ClusterRun, Queue, R2 and Catalogue; bounded polls
 * far below the watchdog (a unit is sent again after 60 s, given up after 5 sends).
 */
import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { adapterKey } from "../../src/storage/keys";
import { clusterRun } from "../../src/storage/runs";
import type { RunStatus } from "../../src/runs/status";
import { fixtureBytes, fixtureJson } from "./seed";
import { call, finished, registerModel, uploadAdapter, uploadExamples, waitFor } from "./api";

const HEALTHY = ["gec-de", "gec-fr", "reply-de", "reply-fr"];
/** Far below one watchdog cycle (60 s): failing here means the run did not wait for silence. */
const FAST = 20;

beforeAll(async () => {
  expect((await registerModel()).status).toBe(201);
  for (const task of [...HEALTHY, "tone-de", "sum-de", "sum-fr"]) {
    expect((await uploadAdapter(task)).status).toBe(201);
    expect((await uploadExamples(task, "fewshot")).status).toBe(201);
  }
});

async function startRun(body: Record<string, unknown>): Promise<string> {
  const response = await call("/v1/runs", { method: "POST", body: JSON.stringify({ cache: false, ...body }) });
  expect(response.status).toBe(202);
  return ((await response.json()) as { runId: string }).runId;
}

const evaluating = (s: RunStatus) => s.phase === "evaluate" && s.cost.units > s.cost.cacheHits + s.cost.forwardPasses;

describe("a run over an unusable adapter", () => {
  it(
    "fails at the merge naming the task whose scaled factors are out of bounds, " + "not its healthy cluster mate",
    async () => {
      // As an adapter stored before uploads bounded the scaled factors: lora_alpha 1e30 made every
      // loss of its cluster NaN, and the run used to fail after 5 minutes blaming gec-fr.
      const config = await fixtureJson<Record<string, unknown>>("adapters/tone-de/adapter_config.json");
      await env.BUCKET.put(
        adapterKey("tone-de", "adapter_config.json"),
        JSON.stringify({ ...config, lora_alpha: 1e30 }),
      );
      const runId = await startRun({ method: "merge-all", tasks: ["gec-fr", "tone-de"] });
      const status = await waitFor(runId, finished, FAST);
      expect(status.state).toBe("failed");
      expect(status.reason).toContain("task tone-de");
      expect(status.reason).toContain("effective value");
      expect(status.reason).not.toContain("gec-fr");
      // Nothing was sent: the run stopped before any unit could be evaluated under the broken merge.
      expect(status.cost.units).toBe(0);
      await env.BUCKET.put(
        adapterKey("tone-de", "adapter_config.json"),
        await fixtureBytes("adapters/tone-de/adapter_config.json"),
      );
    },
  );

  it(
    "fails at once when a unit reports a non-finite loss, naming the task, " + "its cluster and the cluster's members",
    async () => {
      const runId = await startRun({ method: "d2c", k: 2, seed: 1, tasks: HEALTHY });
      await waitFor(runId, evaluating);
      // Take a unit the way a consumer does (its claim keeps the queue's copy from evaluating it)...
      const unit = await runInDurableObject(clusterRun(env, runId), (run, state) => {
        const sql = state.storage.sql;
        const open = sql
          .exec<{ id: string; task: number; cluster: number }>(
            "SELECT u.id, u.task, u.cluster FROM units u JOIN work w ON w.id = u.id WHERE w.done_at IS NULL",
          )
          .toArray();
        const row = open.find((u) => run.claim("unit", [u.id]).length === 1)!;
        const members = JSON.parse(
          sql
            .exec<{ members: string }>("SELECT members FROM clusters WHERE iteration = 0 AND cluster = ?", row.cluster)
            .one().members,
        ) as number[];
        return { ...row, members };
      });
      // ...and report what an evaluation that overflowed would: NaN, which SQLite would store as NULL.
      await clusterRun(env, runId).reportUnits("unit", [
        { unitId: unit.id, result: { loss: NaN, exactMatch: 0, examples: 10, tokens: 170, forwardPasses: 1, ms: 1 } },
      ]);
      const status = (await clusterRun(env, runId).status())!;
      expect(status.state).toBe("failed");
      expect(status.reason).toContain(
        `task ${HEALTHY[unit.task]} gave a non-finite few-shot loss (NaN) under cluster ${unit.cluster}`,
      );
      expect(status.reason).toContain(`the merge of ${unit.members.map((t) => HEALTHY[t]).join(", ")}`);
    },
  );
});

describe("a task changed in the catalogue during a run", () => {
  it("fails the run naming the deleted task", async () => {
    const tasks = [...HEALTHY, "sum-de"];
    const runId = await startRun({ method: "d2c", k: 2, seed: 2, tasks });
    await waitFor(runId, evaluating);
    expect((await call("/v1/tasks/sum-de", { method: "DELETE" })).status).toBe(200);
    const status = await waitFor(runId, finished, FAST);
    expect(status.state).toBe("failed");
    expect(status.reason).toBe("the catalogue changed under the run: task sum-de deleted");
  });

  it("fails the run naming the task whose adapter was replaced", async () => {
    const runId = await startRun({ method: "d2c", k: 2, seed: 3, tasks: [...HEALTHY, "sum-fr"] });
    await waitFor(runId, evaluating);
    const other = {
      "adapter_config.json": await fixtureBytes("adapters/sum-es/adapter_config.json"),
      "adapter_model.safetensors": await fixtureBytes("adapters/sum-es/adapter_model.safetensors"),
    };
    expect((await uploadAdapter("sum-fr", other)).status).toBe(201);
    const status = await waitFor(runId, finished, FAST);
    expect(status.state).toBe("failed");
    expect(status.reason).toBe("the catalogue changed under the run: task sum-fr adapter replaced");
  });
});
