/**
 * `npm run bench:eval`, last part: units per second through the evaluator service (evaluator/,
 * onnxruntime-node on every core) against the in-Worker WASM path, on the reference model, with
 * the same units: every task under every merged adapter of a D2C run's first iteration. Then the
 * same run end to end both ways (Queue, claims, reports included).
 * The Worker is the real local one (test/node/worker.ts), seeded with r2-fixtures; the service
 * runs as `npm run evaluator` would, on loopback.
 */
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { availableParallelism, tmpdir } from "node:os";
import { join } from "node:path";
import type { RunStatus } from "../src/runs/status.ts";
import { seed } from "../scripts/seed.ts";
import { FIXTURES, startWorker, TOKEN } from "../test/node/worker.ts";
import { freePort, startEvaluator } from "../test/evaluator/service.ts";

/** Concurrent units the consumer forwards: one queue batch (wrangler.toml max_batch_size). */
const BATCH = 10;

interface Unit {
  task: string;
  sha256: string;
  examplesSha256: string;
}

export async function evaluatorServiceFigures(): Promise<void> {
  const secret = randomBytes(24).toString("base64url");
  const port = await freePort();
  const cacheDir = await mkdtemp(join(tmpdir(), "d2c-bench-evaluator-"));
  const worker = await startWorker({
    vars: { EVALUATOR_URL: `http://127.0.0.1:${port}` },
    secrets: { EVALUATOR_SECRET: secret },
  });
  const evaluator = await startEvaluator({ port, workerUrl: worker.url, secret, cacheDir });
  try {
    await seed(worker.url, TOKEN, FIXTURES);
    const json = async <T>(response: Promise<Response>): Promise<T> => {
      const r = await response;
      if (!r.ok) throw new Error(`${r.status} ${await r.text()}`);
      return (await r.json()) as T;
    };
    const post = (body: unknown): RequestInit => ({ method: "POST", body: JSON.stringify(body) });
    const run = async (evaluator: "wasm" | "remote") => {
      const { runId } = await json<{ runId: string }>(
        worker.call("/v1/runs", post({ k: 5, method: "d2c", seed: 0, cache: false, evaluator })),
      );
      for (;;) {
        const status = await json<RunStatus>(worker.call(`/v1/runs/${runId}`));
        if (status.state !== "running") return status;
        await new Promise((r) => setTimeout(r, 250));
      }
    };
    const wasmRun = await run("wasm");
    const remoteRun = await run("remote");
    if (wasmRun.state !== "done" || remoteRun.state !== "done")
      throw new Error(`runs: ${wasmRun.state} ${wasmRun.reason}, ${remoteRun.state} ${remoteRun.reason}`);

    const { tasks } = await json<{ tasks: { id: string; examplesSha256: { fewshot: string } }[] }>(
      worker.call("/v1/tasks"),
    );
    const digest = new Map(tasks.map((t) => [t.id, t.examplesSha256.fewshot]));
    const clusters = wasmRun.iterations[0].clusters;
    const units: Unit[] = wasmRun.tasks.flatMap((task) =>
      clusters.map((c) => ({ task, sha256: c.sha256, examplesSha256: digest.get(task)! })),
    );

    const inWorker = (u: Unit) =>
      json(worker.call("/v1/evaluate", post({ task: u.task, adapter: u.sha256, split: "fewshot" })));
    const remote = (u: Unit) =>
      json(
        fetch(`${evaluator.url}/v1/units`, {
          method: "POST",
          headers: { authorization: `Bearer ${secret}` },
          body: JSON.stringify({
            runId: "bench",
            unitId: "0:0:0",
            modelId: wasmRun.modelId,
            taskId: u.task,
            split: "fewshot",
            examplesSha256: u.examplesSha256,
            mergedSha256: u.sha256,
          }),
        }),
      );
    /** Units per second over all units, `concurrency` at a time, after one warm-up pass over them. */
    const rate = async (evaluate: (u: Unit) => Promise<unknown>, concurrency: number) => {
      const pass = async () => {
        let next = 0;
        await Promise.all(
          Array.from({ length: concurrency }, async () => {
            while (next < units.length) await evaluate(units[next++]);
          }),
        );
      };
      await pass();
      const started = performance.now();
      await pass();
      return units.length / ((performance.now() - started) / 1000);
    };
    const wasm = await rate(inWorker, 1);
    const service = await rate(remote, 1);
    const serviceBatch = await rate(remote, BATCH);
    const health = await json<{ executionProvider: string; threads: number; onnxruntime: string }>(
      fetch(`${evaluator.url}/healthz`),
    );

    console.log(
      `evaluator service (onnxruntime-node ${health.onnxruntime}, ${health.executionProvider}, ` +
        `${health.threads} threads of ${availableParallelism()} cores) vs the in-Worker WASM path, ` +
        `the same ${units.length} units (${wasmRun.tasks.length} tasks x ${clusters.length} merged adapters ` +
        `of a D2C K=5 run, 10 few-shot examples each):`,
    );
    console.log(`  in-Worker WASM (POST /v1/evaluate, one at a time, one isolate): ${wasm.toFixed(1)} units/s`);
    console.log(
      `  evaluator service (POST /v1/units, one at a time): ${service.toFixed(1)} units/s ` +
        `(${(service / wasm).toFixed(2)}x)`,
    );
    console.log(
      `  evaluator service (POST /v1/units, ${BATCH} at a time, as the consumer forwards a batch): ` +
        `${serviceBatch.toFixed(1)} units/s (${(serviceBatch / wasm).toFixed(2)}x)`,
    );
    const seconds = (s: RunStatus) => (s.ms / 1000).toFixed(1);
    // The summary carries J per iteration and the result's assignment (per-iteration rows: GET /v1/runs/:id/losses).
    const same =
      remoteRun.iterations.length === wasmRun.iterations.length &&
      JSON.stringify(remoteRun.result?.assignment) === JSON.stringify(wasmRun.result?.assignment);
    console.log(
      `  the same run end to end (POST /v1/runs {"k":5,"method":"d2c","seed":0,"cache":false}, ` +
        `${wasmRun.cost.units} units through the Queue): ` +
        `wasm ${seconds(wasmRun)} s (${(wasmRun.cost.units / (wasmRun.ms / 1000)).toFixed(1)} units/s), ` +
        `remote ${seconds(remoteRun)} s (${(remoteRun.cost.units / (remoteRun.ms / 1000)).toFixed(1)} ` +
        `units/s); ` +
        `${same ? "same iterations and final assignment" : "ASSIGNMENTS DIFFER"}, J ` +
        `${wasmRun.result!.objective.toFixed(4)} vs ${remoteRun.result!.objective.toFixed(4)}`,
    );
  } finally {
    await evaluator.stop();
    await worker.dispose();
    await rm(cacheDir, { recursive: true, force: true });
  }
}
