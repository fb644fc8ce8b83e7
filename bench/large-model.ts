/**
 * `npm run bench:large`: a model well beyond a Worker isolate end to end. A synthetic 105 M
 * parameter decoder (tools/fixtures/synthetic.py: the reference architecture at d=1024, 10 layers,
 * random weights, 6 random rank-8 adapters over reference tasks' examples; generated into /tmp
 * when missing) is pushed as torch exports it (`d2c-edge model push`, surgery on the CLI side,
 * 400 MB in parts), refused for the in-Worker path, registered for the evaluator service, and
 * clustered by D2C through the Queue and the service. Prints the time of each step.
 * Needs Debian's python3-torch for the generation (tools/fixtures/README.md).
 */
import { execFile, execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { copyFile, mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { RunStatus } from "../src/runs/status.ts";
import { freePort, startEvaluator } from "../test/evaluator/service.ts";
import { startWorker, TOKEN } from "../test/node/worker.ts";

const ROOT = fileURLToPath(new URL("../", import.meta.url));
const WORLD = process.env.D2C_LARGE_WORLD ?? "/tmp/d2c-edge-synthetic/100m";
const MODEL = "synthetic-100m";
const CLI = join(ROOT, "cli/d2c-edge.ts");

const seconds = (since: number) => `${((performance.now() - since) / 1000).toFixed(1)} s`;

if (!existsSync(join(WORLD, "models", MODEL, "plain/model.onnx"))) {
  console.log(`generating ${WORLD} (tools/fixtures/synthetic.py --params 100M --adapters 6) ...`);
  execFileSync(
    "/usr/bin/python3",
    [join(ROOT, "tools/fixtures/synthetic.py"), "--params", "100M", "--adapters", "6", "--out", WORLD],
    { stdio: "inherit" },
  );
}

const secret = randomBytes(24).toString("base64url");
const port = await freePort();
const scratch = await mkdtemp(join(tmpdir(), "d2c-bench-large-"));
const worker = await startWorker({
  vars: { EVALUATOR_URL: `http://127.0.0.1:${port}` },
  secrets: { EVALUATOR_SECRET: secret },
});
const evaluator = await startEvaluator({ port, workerUrl: worker.url, secret, cacheDir: join(scratch, "cache") });
/** The CLI as a child process; asynchronously, since this process also serves the local Worker. */
const cli = (...args: string[]) =>
  new Promise<{ status: number; stdout: string; stderr: string }>((resolve) => {
    execFile(
      process.execPath,
      [CLI, ...args],
      { cwd: scratch, env: { ...process.env, D2C_URL: worker.url, D2C_TOKEN: TOKEN }, maxBuffer: 1 << 24 },
      (error, stdout, stderr) =>
        resolve({ status: error ? (typeof error.code === "number" ? error.code : 1) : 0, stdout, stderr }),
    );
  });

try {
  // The folder a team would have: the plain export beside its tokenizer files.
  const folder = join(scratch, MODEL);
  await mkdir(folder);
  await copyFile(join(WORLD, "models", MODEL, "plain/model.onnx"), join(folder, "model.onnx"));
  for (const file of ["tokenizer.json", "tokenizer_config.json"])
    await copyFile(join(WORLD, "models", MODEL, file), join(folder, file));

  let started = performance.now();
  const refused = await cli("model", "push", folder, "--evaluator", "wasm");
  console.log(
    `model push --evaluator wasm: exit ${refused.status} (${seconds(started)}): ` +
      `${refused.stderr.trim().split("\n").at(-1)}`,
  );
  started = performance.now();
  const pushed = await cli("model", "push", folder);
  if (pushed.status !== 0) throw new Error(`model push failed:\n${pushed.stderr}`);
  console.log(`model push (surgery + upload in parts): ${pushed.stdout.trim()} (${seconds(started)})`);

  started = performance.now();
  const tasks = await cli("push", WORLD);
  if (tasks.status !== 0) throw new Error(`push failed:\n${tasks.stdout}\n${tasks.stderr}`);
  console.log(
    `push of the 6 adapters and their examples: ${tasks.stdout.trim().split("\n").at(-1)} (${seconds(started)})`,
  );

  started = performance.now();
  const response = await worker.call("/v1/runs", {
    method: "POST",
    body: JSON.stringify({ k: 2, method: "d2c", seed: 0, cache: false }),
  });
  if (!response.ok) throw new Error(`POST /v1/runs: ${response.status} ${await response.text()}`);
  const { runId } = (await response.json()) as { runId: string };
  let status: RunStatus;
  for (;;) {
    status = (await (await worker.call(`/v1/runs/${runId}`)).json()) as RunStatus;
    if (status.state !== "running") break;
    await new Promise((r) => setTimeout(r, 500));
  }
  if (status.state !== "done") throw new Error(`run ${status.state}: ${status.reason}`);
  console.log(
    `D2C K=2 over ${status.tasks.length} tasks of ${MODEL} (evaluator ${status.evaluator}): done in ` +
      `${seconds(started)}, ` +
      `${status.iterations.length} iterations, J ` +
      `${status.iterations.map((i) => i.objective!.toFixed(4)).join(" -> ")}, ` +
      `${status.cost.units} units, ${status.cost.forwardPasses} forward passes`,
  );
  const health = (await (await fetch(`${evaluator.url}/healthz`)).json()) as Record<string, unknown>;
  console.log(`evaluator: ${JSON.stringify(health)}`);
} finally {
  await evaluator.stop();
  await worker.dispose();
  await rm(scratch, { recursive: true, force: true });
}
