/**
 * `npm run bench:worker-scale`: D2C over a scale world through a running local Worker (issue 22):
 * idle API latency, then one run at K = 20 over every task of the world with the API polled once a
 * second while it goes, and the run's own figures (forward passes, queue messages, estimated bill)
 * from GET /v1/runs/:id. Writes --out (docs/worker-scale.json) and prints the figures.
 *
 * Again, from a fresh clone (the Worker on 8797, beside anything on 8787; one command each):
 *
 *   npm run world -- --n 1000 --seed 0 --out /tmp/world1000
 *   PORT=8797 npm start
 *   npm run bench:worker-scale -- --url http://127.0.0.1:8797 --world /tmp/world1000 --seed-world
 *
 * --seed-world uploads the world's tasks first with scripts/seed.ts (tasks already there are
 * skipped). Options: --k 20, --restarts N (default: the Worker's, 1 above 200 tasks), --no-cache
 * (the run computes every merge and loss afresh; on a fresh start the cache is empty anyway),
 * --idle-seconds 60, --timeout-minutes 180 (then the run is cancelled and its figures so far written),
 * --request-timeout-seconds 300 (a GET that takes longer is recorded at that),
 * --persist-to .wrangler/state (where `npm start`'s wrangler keeps Durable Objects: the largest
 * row is read from their SQLite files),
 * --copy-to FILE (the same JSON written twice, e.g. docs/worker-scale-before.json).
 * URL and token as the CLI takes them: --url/--token, else $D2C_URL/$D2C_TOKEN, else
 * http://127.0.0.1:8787 and ADMIN_TOKEN from ./.dev.vars.
 */
import { execFileSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { loadavg } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { connect, devVarsToken } from "../cli/api.ts";
import { seed } from "../scripts/seed.ts";
import type { RunStatus } from "../src/runs/status.ts";
import { DO_MAX_ROW_BYTES, findObject, objectFiles, objectRows, type ObjectRows } from "./durableObjectRows.ts";

const { values } = parseArgs({
  allowNegative: true,
  options: {
    url: { type: "string" },
    token: { type: "string" },
    world: { type: "string", default: "/tmp/world1000" },
    "seed-world": { type: "boolean", default: false },
    k: { type: "string", default: "20" },
    restarts: { type: "string" },
    cache: { type: "boolean", default: true },
    "idle-seconds": { type: "string", default: "60" },
    "timeout-minutes": { type: "string", default: "180" },
    "request-timeout-seconds": { type: "string", default: "300" },
    "persist-to": { type: "string", default: ".wrangler/state" },
    out: { type: "string", default: "docs/worker-scale.json" },
    "copy-to": { type: "string" },
  },
});
const token = values.token ?? process.env.D2C_TOKEN ?? devVarsToken();
const api = connect(values.url, token);
const K = Number(values.k);
/** A GET that takes longer is recorded at this latency, as an error (in wrangler dev a GET waits out the consumer). */
const REQUEST_TIMEOUT_MS = Number(values["request-timeout-seconds"]) * 1000;
/** The Worker's script name (wrangler.toml): its objects' folders are <script>-<Class>. */
const SCRIPT = "d2c-edge";

interface Sample {
  readonly at: number;
  readonly ms: number;
  readonly status: number;
  readonly error?: string;
}

const percentile = (xs: readonly number[], p: number) => {
  if (xs.length === 0) return null;
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
};
const round = (x: number | null, digits = 1) => (x === null ? null : Number(x.toFixed(digits)));
const summary = (samples: readonly Sample[]) => {
  const ms = samples.map((s) => s.ms);
  return {
    requests: samples.length,
    errors: samples.filter((s) => s.error).length,
    p50Ms: round(percentile(ms, 50)),
    p95Ms: round(percentile(ms, 95)),
    maxMs: round(percentile(ms, 100)),
    firstErrors: [...new Set(samples.flatMap((s) => (s.error ? [s.error] : [])))].slice(0, 3),
  };
};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const load = () => ({
  uptime: execFileSync("uptime", { encoding: "utf8" }).trim(),
  loadavg: loadavg().map((l) => round(l, 2)),
});

/** One timed GET, its body read; `expected` statuses count as answers (a 404 run id is one). */
async function timedGet(path: string, expected: readonly number[] = [200]): Promise<Sample & { body?: string }> {
  const started = performance.now();
  try {
    const response = await fetch(api.url + path, {
      headers: token ? { authorization: `Bearer ${token}` } : {},
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });
    const body = await response.text();
    const ms = performance.now() - started;
    if (expected.includes(response.status)) return { at: Date.now(), ms, status: response.status, body };
    return { at: Date.now(), ms, status: response.status, error: `${response.status} ${body.slice(0, 200)}` };
  } catch (e) {
    const ms = performance.now() - started;
    return { at: Date.now(), ms, status: 0, error: e instanceof Error ? `${e.name}: ${e.message}` : String(e) };
  }
}

/** The two GETs, one after the other, once a second, until `stop` says so; `onStatus` sees each run status read. */
async function poll(runPath: () => string, stop: (elapsedMs: number) => boolean, onStatus?: (body: string) => void) {
  const runs: Sample[] = [];
  const tasks: Sample[] = [];
  const started = Date.now();
  while (!stop(Date.now() - started)) {
    const tick = Date.now();
    const run = await timedGet(runPath(), [200, 404]);
    runs.push(run);
    if (run.body && run.status === 200 && onStatus) onStatus(run.body);
    tasks.push(await timedGet("/v1/tasks"));
    await sleep(Math.max(0, 1000 - (Date.now() - tick)));
  }
  return { runs, tasks };
}

const world = JSON.parse(readFileSync(join(values.world, "catalogue.json"), "utf8")) as { tasks: { id: string }[] };
const taskIds = world.tasks.map((t) => t.id);
const loadAtStart = load();
console.log(`${api.url}: world ${values.world} (${taskIds.length} tasks), K = ${K}; ${loadAtStart.uptime}`);

let seedSeconds: number | null = null;
if (values["seed-world"]) {
  if (!token) throw new Error("--seed-world needs a token: --token, $D2C_TOKEN or ADMIN_TOKEN in ./.dev.vars");
  const seedStart = performance.now();
  const { uploaded, skipped } = await seed(api.url, token, values.world);
  seedSeconds = round((performance.now() - seedStart) / 1000);
  console.log(`seeded ${uploaded} tasks (${skipped} already there) in ${seedSeconds} s`);
}

// Idle: an existing run's status (the newest), else a well-formed id no run has (404).
const newest = (await api.json<{ runs: { runId: string }[] }>("GET", "/v1/runs")).runs[0]?.runId;
const idleRun = newest ?? `run-${crypto.randomUUID()}`;
const idleSeconds = Number(values["idle-seconds"]);
console.log(
  `idle: GET /v1/runs/${idleRun}${newest ? "" : " (no run yet: 404)"} and GET /v1/tasks, ` +
    `once a second for ${idleSeconds} s`,
);
const idle = await poll(
  () => `/v1/runs/${idleRun}`,
  (elapsed) => elapsed >= idleSeconds * 1000,
);
const idleApiP95Ms = round(
  percentile(
    [...idle.runs, ...idle.tasks].map((s) => s.ms),
    95,
  ),
);
console.log(
  `idle p95 ${idleApiP95Ms} ms (run status ${summary(idle.runs).p95Ms} ms, ` + `tasks ${summary(idle.tasks).p95Ms} ms)`,
);

const request = {
  k: K,
  method: "d2c",
  tasks: taskIds,
  ...(values.restarts !== undefined ? { restarts: Number(values.restarts) } : {}),
  ...(values.cache ? {} : { cache: false }),
};
const benchStart = performance.now();
const started = await api.json<{ runId: string; k: number; tasks: number }>("POST", "/v1/runs", { json: request });
console.log(`run ${started.runId}: K = ${started.k}, ${started.tasks} tasks`);

let status: RunStatus | null = null;
let lastPrint = 0;
const timeoutMs = Number(values["timeout-minutes"]) * 60_000;
const during = await poll(
  () => `/v1/runs/${started.runId}`,
  (elapsed) => (status !== null && status.state !== "running") || elapsed >= timeoutMs,
  (body) => {
    status = JSON.parse(body) as RunStatus;
    if (Date.now() - lastPrint < 30_000 && status.state === "running") return;
    lastPrint = Date.now();
    const it = status.iterations.at(-1);
    console.log(
      `${((performance.now() - benchStart) / 1000).toFixed(0)} s: ${status.state}, ${status.phase}, ` +
        `iteration ${status.iteration}${it ? ` (${it.evaluated}/${it.units} units)` : ""}, ` +
        `${status.cost.forwardPasses} forward passes, ` +
        `${status.cost.messages} messages`,
    );
  },
);
const benchWallSeconds = round((performance.now() - benchStart) / 1000);
const timedOut = status === null || (status as RunStatus).state === "running";
if (timedOut) {
  console.log(`still running after ${values["timeout-minutes"]} min: cancelling ${started.runId}`);
  await api.send("POST", `/v1/runs/${started.runId}/cancel`);
}
// The run's last word, read once more (the poll may have stopped on its timeout).
const last = await timedGet(`/v1/runs/${started.runId}`);
const final: RunStatus | null = last.body ? (JSON.parse(last.body) as RunStatus) : status;
if (!final) throw new Error(`run ${started.runId}: no status read`);
const loadAtEnd = load();

/** Both objects on the run's path, row by row, where this machine keeps them (a local Worker only). */
function durableObjectRows(): ObjectRows[] {
  const runFiles = objectFiles(values["persist-to"], SCRIPT, "ClusterRun");
  const runFile = findObject(runFiles, "run", "json_extract(config, '$.runId') = ?", started.runId);
  const catalogueFiles = objectFiles(values["persist-to"], SCRIPT, "Catalogue");
  return [
    ...(runFile ? [objectRows(runFile, "ClusterRun")] : []),
    ...catalogueFiles.map((f) => objectRows(f, "Catalogue")),
  ];
}
const objects = durableObjectRows();
const rows = objects.flatMap((o) => o.tables.map((t) => ({ object: o.className, ...t })));
const largest = rows.reduce<(typeof rows)[number] | null>(
  (a, b) => (a && a.largestRowBytes >= b.largestRowBytes ? a : b),
  null,
);
const apiP95Ms = round(
  percentile(
    [...during.runs, ...during.tasks].map((s) => s.ms),
    95,
  ),
);

const figures = {
  n: final.tasks.length,
  k: final.k,
  wallSeconds: round(final.ms / 1000),
  forwardPasses: final.cost.forwardPasses,
  queueMessages: final.cost.messages,
  estimatedUsd: round(final.cost.estimate.usd, 4),
  apiP95Ms,
  idleApiP95Ms,
  runId: final.runId,
  state: final.state,
  timedOut,
  reason: final.reason,
  phase: final.phase,
  /** Whether the bench asked for restarts; else the Worker's default for N tasks (1 above 200). */
  restartsRequested: values.restarts !== undefined,
  restarts: final.restarts,
  cache: values.cache,
  iterations: final.iterations.length,
  fullIterations: final.iterations.filter((i) => i.full).length,
  objectiveByIteration: final.iterations.map((i) => round(i.objective, 4)),
  bestObjective: round(final.result?.objective ?? null, 4),
  units: final.cost.units,
  cacheHits: final.cost.cacheHits,
  naiveUnits: final.cost.naiveUnits,
  evaluationMs: Math.round(final.cost.evaluationMs),
  similarityBlocks: final.cost.similarity.blocks,
  costLines: final.cost.estimate.lines.map((l) => ({ item: l.item, quantity: l.quantity, usd: round(l.usd, 5) })),
  benchWallSeconds,
  seedSeconds,
  api: {
    pollIntervalMs: 1000,
    idle: {
      runId: idleRun,
      runExists: newest !== undefined,
      runStatus: summary(idle.runs),
      tasks: summary(idle.tasks),
    },
    duringRun: { runStatus: summary(during.runs), tasks: summary(during.tasks) },
  },
  largestDurableObjectRow: largest && {
    object: largest.object,
    table: largest.table,
    key: largest.largestRowKey,
    bytes: largest.largestRowBytes,
    column: largest.largestColumn,
    limitBytes: DO_MAX_ROW_BYTES,
    measuredFrom: `SQLite files under ${values["persist-to"]}/v3/do (bench/durableObjectRows.ts)`,
  },
  durableObjects: objects.map((o) => ({
    object: o.className,
    databaseBytes: o.databaseBytes,
    tables: o.tables.map(({ table, rows: n, largestRowBytes, largestColumn }) => ({
      table,
      rows: n,
      largestRowBytes,
      largestColumn,
    })),
  })),
  load: { start: loadAtStart, end: loadAtEnd },
  commit: execFileSync("git", ["rev-parse", "--short", "HEAD"], { encoding: "utf8" }).trim(),
  measuredAt: new Date().toISOString(),
};
const json = `${JSON.stringify(figures, null, 2)}\n`;
writeFileSync(values.out, json);
if (values["copy-to"]) writeFileSync(values["copy-to"], json);

console.log(
  `\nrun ${final.runId}: ${final.state}${final.reason ? ` (${final.reason})` : ""}, ` +
    `N = ${figures.n}, K = ${figures.k}, ` +
    `restarts ${final.restarts}${figures.restartsRequested ? "" : " (the default)"}`,
);
console.log(
  `  wall ${figures.wallSeconds} s (bench ${benchWallSeconds} s), ${figures.iterations} iterations, ` +
    `best J ${figures.bestObjective}`,
);
console.log(
  `  ${figures.forwardPasses} forward passes, ${figures.queueMessages} queue messages, ` +
    `${figures.units} units ` +
    `(${figures.cacheHits} cached, naive ${figures.naiveUnits}), estimated $${figures.estimatedUsd}`,
);
console.log(
  `  API p95 during the run ${apiP95Ms} ms (run status ${figures.api.duringRun.runStatus.p95Ms}, tasks ` +
    `${figures.api.duringRun.tasks.p95Ms}; ${during.runs.length + during.tasks.length} requests), ` +
    `idle ${idleApiP95Ms} ms`,
);
if (largest) {
  console.log(
    `  largest Durable Object row: ${largest.object}.${largest.table} ${largest.largestRowKey} ` +
      `${largest.largestRowBytes} bytes (${largest.largestColumn}), limit ${DO_MAX_ROW_BYTES}`,
  );
} else console.log(`  largest Durable Object row: no SQLite files under ${values["persist-to"]} (not a local Worker?)`);
console.log(`  load: ${loadAtStart.uptime} -> ${loadAtEnd.uptime}`);
console.log(`wrote ${values.out}${values["copy-to"] ? ` and ${values["copy-to"]}` : ""}`);
process.exitCode = final.state === "done" ? 0 : 1;
