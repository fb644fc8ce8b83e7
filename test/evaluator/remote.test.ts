/**
 * The evaluator service (evaluator/, onnxruntime-node) behind the real Worker (test/node/worker.ts:
 * wrangler's unstable_startWorker, local R2, Durable Objects and Queues, seeded with r2-fixtures):
 * the Worker's queue consumer forwards a remote run's units to the service on loopback, the
 * service reads what they name back through the Worker. Compared with the same run on the
 * in-Worker WASM path; then the service crashing mid-run, and being down.
 */
import { randomBytes } from "node:crypto";
import { execFile } from "node:child_process";
import { copyFile, mkdir, mkdtemp, readFile, rm } from "node:fs/promises";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { LossPage, LossRow, RunStatus } from "../../src/runs/status.ts";
import { seed } from "../../scripts/seed.ts";
import { FIXTURES, startWorker, TOKEN, type LocalWorker } from "../node/worker.ts";
import { freePort, startEvaluator, type EvaluatorProcess } from "./service.ts";

const CLI = fileURLToPath(new URL("../../cli/d2c-edge.ts", import.meta.url));
const execFileAsync = promisify(execFile);
const SECRET = randomBytes(24).toString("base64url");
let worker: LocalWorker;
let evaluator: EvaluatorProcess | undefined;
let port: number;
let cacheDir: string;

const post = (body: unknown): RequestInit => ({
  method: "POST",
  body: JSON.stringify(body),
  headers: { "content-type": "application/json" },
});
const evaluatorOptions = () => ({ port, workerUrl: worker.url, secret: SECRET, cacheDir });

/** Polls until `until` holds (bounded): no fixed sleeps. */
async function poll<T>(
  read: () => Promise<T>,
  until: (value: T) => boolean,
  what: string,
  seconds: number,
): Promise<T> {
  const deadline = Date.now() + seconds * 1000;
  for (;;) {
    const value = await read();
    if (until(value)) return value;
    if (Date.now() > deadline)
      throw new Error(`${what}: not within ${seconds} s; last: ${JSON.stringify(value).slice(0, 500)}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

const status = async (runId: string) => (await (await worker.call(`/v1/runs/${runId}`)).json()) as RunStatus;
/** Every task's row of an iteration's loss matrix, read a page at a time. */
async function lossRows(runId: string, iteration: number): Promise<LossRow[]> {
  const rows: LossRow[] = [];
  for (let offset = 0; ; offset += 100) {
    const page = (await (
      await worker.call(`/v1/runs/${runId}/losses?iteration=${iteration}&offset=${offset}&limit=100`)
    ).json()) as LossPage;
    rows.push(...page.rows);
    if (offset + 100 >= page.total) return rows;
  }
}
const assignmentOf = async (runId: string, iteration: number) =>
  Object.fromEntries((await lossRows(runId, iteration)).map((r) => [r.task, r.cluster]));
const finished = (runId: string, seconds: number) =>
  poll(
    () => status(runId),
    (s) => s.state !== "running",
    `run ${runId}`,
    seconds,
  );

/** One start unless the test says (the default restarts are the Worker tests' to check). */
async function startRun(body: Record<string, unknown>): Promise<string> {
  const response = await worker.call("/v1/runs", post({ restarts: 1, ...body }));
  expect(response.status, await response.clone().text()).toBe(202);
  return ((await response.json()) as { runId: string }).runId;
}

async function health(
  url: string,
): Promise<{ ok: boolean; units: number; forwardPasses: number; executionProvider: string }> {
  return (await (await fetch(`${url}/healthz`)).json()) as never;
}

beforeAll(async () => {
  port = await freePort();
  cacheDir = await mkdtemp(join(tmpdir(), "d2c-evaluator-cache-"));
  worker = await startWorker({
    vars: { EVALUATOR_URL: `http://127.0.0.1:${port}` },
    secrets: { EVALUATOR_SECRET: SECRET },
  });
  await seed(worker.url, TOKEN, FIXTURES);
});

afterAll(async () => {
  await evaluator?.stop();
  await worker?.dispose();
  if (cacheDir) await rm(cacheDir, { recursive: true, force: true });
});

describe("the evaluator service and the Worker's object route", () => {
  it(
    "reads models, merged adapters and examples for the evaluator's secret only, " + "and refuses bad units clearly",
    async () => {
      evaluator = await startEvaluator(evaluatorOptions());
      expect(evaluator.output()).toMatch(
        new RegExp(
          String.raw`^d2c-edge evaluator on http:\/\/127\.0\.0\.1:\d+: onnxruntime-node 1\.\d+\.\d+, ` +
            String.raw`(CPU execution provider \(CUDA: .+\)|CUDA execution provider .+), \d+ threads; reading through `,
          "m",
        ),
      );
      expect(evaluator.output()).not.toContain(SECRET);

      const object = (key: string, token: string) =>
        fetch(`${worker.url}/v1/evaluator/objects/${key}`, { headers: { authorization: `Bearer ${token}` } });
      const model = await object("models/d2c-char-lm/model.json", SECRET);
      expect(model.status).toBe(200);
      const etag = model.headers.get("etag")!;
      expect(etag).toMatch(/^"/);
      expect((await model.json()) as { modelId: string }).toMatchObject({ modelId: "d2c-char-lm" });
      const again = await fetch(`${worker.url}/v1/evaluator/objects/models/d2c-char-lm/model.json`, {
        headers: { authorization: `Bearer ${SECRET}`, "if-none-match": etag },
      });
      expect(again.status).toBe(304);
      expect((await object("examples/gec-de/fewshot.jsonl", SECRET)).status).toBe(200);
      // The admin token is not the evaluator's secret; task adapters and blobs are not the evaluator's to read.
      expect((await object("models/d2c-char-lm/model.json", TOKEN)).status).toBe(401);
      const adapter = await object("adapters/gec-de/adapter_config.json", SECRET);
      expect(adapter.status).toBe(404);
      expect(((await adapter.json()) as { error: { code: string } }).error.code).toBe("not_readable");
      expect((await object("models/../adapters/gec-de/adapter_config.json", SECRET)).status).toBe(404);

      const unit = (body: unknown, secret = SECRET) =>
        fetch(`${evaluator!.url}/v1/units`, {
          method: "POST",
          body: JSON.stringify(body),
          headers: { authorization: `Bearer ${secret}` },
        });
      const noSecret = await unit({}, "wrong");
      expect(noSecret.status).toBe(401);
      expect(await noSecret.json()).toEqual({
        error: { code: "unauthorized", message: "the evaluator's bearer secret is required" },
      });
      const bad = await unit({
        runId: "r",
        unitId: "0:0:0",
        modelId: "d2c-char-lm",
        taskId: "gec-de",
        split: "fewshot",
        examplesSha256: "x",
        mergedSha256: "y",
      });
      expect(bad.status).toBe(400);
      expect(((await bad.json()) as { error: { code: string; message: string } }).error).toEqual({
        code: "invalid_unit",
        message: "examplesSha256: a hex sha256",
      });
      expect((await fetch(`${evaluator.url}/v1/nothing`)).status).toBe(404);
      expect(await health(evaluator.url)).toMatchObject({ ok: true, units: 0 });
    },
  );
});

describe('runs with "evaluator": "remote"', () => {
  let remoteRun: RunStatus;

  it(
    "finish with the same assignment and J per iteration as the same run on the WASM path; the " +
      "status names the evaluator",
    async () => {
      const before = await health(evaluator!.url);
      // 15 of the 40 tasks (every application, three languages): the same comparison at a third of the units.
      const tasks = ["de", "fr", "ja"].flatMap((l) => ["gec", "qa", "reply", "sum", "tone"].map((a) => `${a}-${l}`));
      const request = { k: 5, method: "d2c", seed: 0, cache: false, tasks };
      // Both at once: the Queue carries both runs' units, the consumer evaluates one and forwards the other.
      const [wasmId, remoteId] = [await startRun(request), await startRun({ ...request, evaluator: "remote" })];
      const [wasm, remote] = await Promise.all([finished(wasmId, 300), finished(remoteId, 300)]);
      remoteRun = remote;
      expect(wasm).toMatchObject({ state: "done", evaluator: "wasm" });
      expect(remote).toMatchObject({ state: "done", evaluator: "remote", reason: null });
      expect(remote.iterations.length).toBe(wasm.iterations.length);
      for (const [i, iteration] of remote.iterations.entries()) {
        expect(await assignmentOf(remoteId, i)).toEqual(await assignmentOf(wasmId, i));
        expect(Math.abs(iteration.objective! - wasm.iterations[i].objective!)).toBeLessThan(1e-3);
      }
      expect(remote.result!.assignment).toEqual(wasm.result!.assignment);
      // Every pass the run counts was run by the service (each unit once), and every unit went there.
      const after = await health(evaluator!.url);
      expect(remote.cost.forwardPasses).toBe(after.forwardPasses - before.forwardPasses);
      expect(after.units - before.units).toBe(remote.cost.units);
      expect(remote.cost.cacheHits).toBe(0);
    },
  );

  it("a unit evaluated by the service gives the Worker's own loss for it", async () => {
    const task = remoteRun.tasks[0];
    const cluster = remoteRun.result!.clusters[remoteRun.result!.assignment[task]];
    const local = (await (
      await worker.call("/v1/evaluate", post({ task, adapter: cluster.sha256, split: "fewshot" }))
    ).json()) as { loss: number; tokens: number };
    const examples = (await (await worker.call(`/v1/tasks/${task}`)).json()) as { examplesSha256: { fewshot: string } };
    const response = await fetch(`${evaluator!.url}/v1/units`, {
      method: "POST",
      headers: { authorization: `Bearer ${SECRET}` },
      body: JSON.stringify({
        runId: "direct",
        unitId: "0:0:0",
        modelId: "d2c-char-lm",
        taskId: task,
        split: "fewshot",
        examplesSha256: examples.examplesSha256.fewshot,
        mergedSha256: cluster.sha256,
      }),
    });
    expect(response.status).toBe(200);
    const remote = (await response.json()) as { loss: number; tokens: number; forwardPasses: number; examples: number };
    expect(Math.abs(remote.loss - local.loss)).toBeLessThan(1e-5);
    expect(remote).toMatchObject({ tokens: local.tokens, forwardPasses: 1, examples: 10 });
  });

  it("survive the service crashing mid-run: the failed units are retried and the run completes", async () => {
    const tasks = [
      "gec-de",
      "gec-fr",
      "qa-de",
      "qa-fr",
      "reply-de",
      "reply-fr",
      "sum-de",
      "sum-fr",
      "tone-de",
      "tone-fr",
    ];
    const before = await health(evaluator!.url);
    const runId = await startRun({ k: 3, method: "d2c", seed: 1, cache: false, tasks, evaluator: "remote" });
    await poll(
      () => health(evaluator!.url),
      (h) => h.units >= before.units + 5,
      "5 units through the service",
      60,
    );
    await evaluator!.kill();
    // Until a new service is up, the port answers by dropping connections: proof that a unit failed meanwhile.
    let attempts = 0;
    const dropping: Server = createServer((socket) => {
      attempts++;
      socket.destroy();
    });
    await new Promise<void>((resolve) => dropping.listen(port, "127.0.0.1", resolve));
    await poll(
      async () => attempts,
      (n) => n >= 1,
      "a unit sent to the crashed service",
      30,
    );
    await new Promise<void>((resolve) => dropping.close(() => resolve()));
    expect((await status(runId)).state).toBe("running");
    evaluator = await startEvaluator(evaluatorOptions());
    const run = await finished(runId, 180);
    expect(run).toMatchObject({ state: "done", evaluator: "remote", reason: null });
    // The restarted service evaluated what the crash left, the retried units among them.
    expect((await health(evaluator.url)).units).toBeGreaterThan(0);
    for (const iteration of run.iterations) {
      for (const row of await lossRows(run.runId, iteration.iteration))
        expect(row.losses.every((loss) => loss !== null && Number.isFinite(loss))).toBe(true);
    }
  });

  it(
    "run without asking for a model registered for the service (external data, pushed with the " +
      "CLI); such a model is refused for wasm",
    async () => {
      const variant = join(FIXTURES, "variants/qwen-bias-tiny");
      const folder = join(cacheDir, "qwen-external-folder");
      await mkdir(folder);
      for (const file of ["external/model.onnx", "external/model.onnx_data", "tokenizer.json", "tokenizer_config.json"])
        await copyFile(join(variant, file), join(folder, basename(file)));
      const pushed = await execFileAsync(
        process.execPath,
        [CLI, "model", "push", folder, "--id", "qwen-external", "--alias", "d2c/qwen-bias-tiny"],
        { env: { ...process.env, D2C_URL: worker.url, D2C_TOKEN: TOKEN } },
      );
      expect(pushed.stdout).toMatch(/evaluator remote/);
      const tasks = ["qwen-r0", "qwen-r1", "qwen-r2"];
      for (const [i, task] of tasks.entries()) {
        const form = new FormData();
        for (const file of ["adapter_config.json", "adapter_model.safetensors"])
          form.set(file, new Blob([await readFile(join(variant, `adapters/random-${i}/${file}`))]), file);
        expect((await worker.call(`/v1/tasks/${task}/adapter`, { method: "PUT", body: form })).status).toBe(201);
        const examples = await readFile(join(FIXTURES, "examples/gec-de/fewshot.jsonl"));
        expect(
          (await worker.call(`/v1/tasks/${task}/examples?split=fewshot`, { method: "PUT", body: examples })).status,
        ).toBe(201);
      }
      const refused = await worker.call("/v1/runs", post({ k: 2, tasks, evaluator: "wasm" }));
      expect(refused.status).toBe(422);
      expect(((await refused.json()) as { error: { code: string } }).error.code).toBe("remote_model");

      const before = await health(evaluator!.url);
      const run = await finished(await startRun({ k: 2, method: "d2c", seed: 0, cache: false, tasks }), 120);
      expect(run).toMatchObject({ state: "done", evaluator: "remote", modelId: "qwen-external" });
      for (const iteration of run.iterations) {
        for (const row of await lossRows(run.runId, iteration.iteration))
          expect(row.losses.every((loss) => loss !== null && Number.isFinite(loss))).toBe(true);
      }
      expect((await health(evaluator!.url)).units - before.units).toBe(run.cost.units);
    },
  );

  it(
    "fail after the retries with a reason naming the evaluator when the service is down, " + "and publish nothing",
    async () => {
      await evaluator!.stop();
      evaluator = undefined;
      const runId = await startRun({
        k: 2,
        method: "d2c",
        seed: 2,
        cache: false,
        tasks: ["gec-de", "qa-de", "reply-de", "sum-de"],
        evaluator: "remote",
      });
      const run = await finished(runId, 120);
      expect(run.state).toBe("failed");
      expect(run.evaluator).toBe("remote");
      expect(run.reason).toMatch(
        new RegExp(
          `^evaluation of task \\S+ under cluster \\d failed after 4 attempts: evaluator ` +
            `http://127\\.0\\.0\\.1:${port} is unreachable`,
        ),
      );
      expect(run.reason).not.toContain(SECRET);
      expect(run.result).toBeNull();

      expect(
        (
          await worker.call("/v1/profiles/remote-down", {
            method: "PUT",
            body: JSON.stringify({ modelId: "d2c-char-lm", budget: { maxAdapters: 2 }, formats: ["peft"] }),
          })
        ).status,
      ).toBeLessThan(300);
      const publish = await worker.call("/v1/profiles/remote-down/releases", post({ runId }));
      expect(publish.status).toBe(409);
      expect(((await publish.json()) as { error: { code: string } }).error.code).toBe("run_not_done");
      expect(
        ((await (await worker.call("/v1/profiles/remote-down/releases")).json()) as { releases: unknown[] }).releases,
      ).toEqual([]);
    },
  );

  it("refuses an evaluator other than wasm and remote", async () => {
    const response = await worker.call("/v1/runs", post({ k: 2, evaluator: "gpu" }));
    expect(response.status).toBe(400);
    expect(((await response.json()) as { error: { message: string } }).error.message).toContain("evaluator");
  });
});
