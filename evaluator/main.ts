/**
 * `npm run evaluator`: the evaluator service for models beyond a Worker. Units of remote runs
 * come from the Worker's queue consumer (POST /v1/units); what they name is read back through
 * the Worker (GET /v1/evaluator/objects/...). Both directions carry EVALUATOR_SECRET, from the
 * environment or from .dev.vars (written by `npm start`).
 *
 *   npm run evaluator [-- --port 8788] [--host 127.0.0.1] [--worker http://127.0.0.1:8787] [--cache-dir DIR]
 */
import { existsSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { WorkerObjects } from "./objects.ts";
import { createRuntime } from "./runtime.ts";
import { createEvaluatorServer } from "./server.ts";
import { UnitEvaluator } from "./units.ts";

const { values } = parseArgs({
  options: {
    port: { type: "string", default: process.env.PORT ?? "8788" },
    host: { type: "string", default: process.env.HOST ?? "127.0.0.1" },
    worker: { type: "string", default: process.env.D2C_WORKER_URL ?? "http://127.0.0.1:8787" },
    "cache-dir": { type: "string", default: process.env.EVALUATOR_CACHE_DIR ?? join(tmpdir(), "d2c-edge-evaluator") },
  },
});

function evaluatorSecret(): string {
  if (process.env.EVALUATOR_SECRET) return process.env.EVALUATOR_SECRET;
  const vars = existsSync(".dev.vars") ? readFileSync(".dev.vars", "utf8") : "";
  const found = /^EVALUATOR_SECRET=(.+)$/m.exec(vars)?.[1]?.trim();
  if (found) return found;
  console.error("EVALUATOR_SECRET is not set: run `npm start` once (it writes .dev.vars) or set it in the environment");
  process.exit(1);
}

const port = Number(values.port);
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  console.error(`--port: ${values.port} is not a port`);
  process.exit(1);
}
const workerUrl = values.worker.replace(/\/+$/, "");
const runtime = createRuntime();
const units = new UnitEvaluator(new WorkerObjects(workerUrl, evaluatorSecret(), values["cache-dir"]), runtime);
const server = createEvaluatorServer(evaluatorSecret(), units, runtime);

server.listen(port, values.host, () => {
  const address = server.address();
  const bound = typeof address === "object" && address ? address.port : port;
  const provider =
    runtime.preferred === "cuda"
      ? "CUDA execution provider (CPU where a session cannot use it)"
      : `CPU execution provider (CUDA: ${runtime.cudaMissing})`;
  console.log(
    `d2c-edge evaluator on http://${values.host}:${bound}: onnxruntime-node ${runtime.version}, ${provider}, ` +
      `${runtime.threads} threads; reading through ${workerUrl}`,
  );
});

for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.on(signal, () => server.close(() => process.exit(0)).closeAllConnections());
}
