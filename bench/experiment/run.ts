/**
 * `npm run experiment [-- --fixtures DIR --ks 1,3,5,10,20,40 --seeds 0,1,2 --threads 1 --methods ...]`:
 * the paper's comparison on a fixtures world. For each storage budget K and seed: held-out
 * exact match and few-shot loss of random, K-means and D2C (pruned, `d2c`, and full, `d2c-full`) clusterings (svd merge
 * to rank 8, uniform weights), beside the base model and each task's own LoRA; and issue 15's `d2c-restarts`
 * (R seeded starts, lowest few-shot J) and `d2c-tuned` (restarts, then each cluster's merge method
 * and weights chosen on held-back few-shot folds: tuning.ts). Writes docs/results.{md,json,svg}.
 * With `--subsets`, per-device task sets instead (subsets.ts): docs/subsets.{md,json}; with
 * `--compressed`, every task's own adapter truncated and quantised (compressed.ts): docs/compressed.{md,json}; with
 * `--budgets`, every way of spending a byte budget, the allocator's among them (budgets.ts):
 * docs/budgets.{md,json,svg}.
 */
import { parseArgs } from "node:util";
import { taskSimilarity } from "../../src/clustering/taskVectors.ts";
import { clustersOf } from "../../src/clustering/assignment.ts";
import { cluster, DEFAULT_RESTART_CRITERION, DEFAULT_RESTARTS, scoreAssignment, type Method } from "./methods.ts";
import type { RestartCriterion } from "../../src/tuning/restarts.ts";
import { writeResults, type ResultRow, type RunCost, type TuningSetup } from "./report.ts";
import { Meter, Scorer } from "./scorer.ts";
import { screenedMethods } from "../../src/tuning/screen.ts";
import { tuneClusters, type TunedCluster } from "./tuning.ts";
import { runSubsets } from "./subsets.ts";
import { runCompressed } from "./compressed.ts";
import { rewriteBudgetsReport, runBudgets } from "./budgets.ts";
import { loadWorld } from "./world.ts";
import { DEFAULT_TUNE } from "../../src/runs/config.ts";

const { values } = parseArgs({
  options: {
    fixtures: { type: "string", default: "r2-fixtures" },
    ks: { type: "string", default: "1,3,5,10,20,40" },
    seeds: { type: "string", default: "0,1,2" },
    threads: { type: "string", default: "1" },
    "max-iterations": { type: "string", default: "10" },
    out: { type: "string", default: "docs" },
    subsets: { type: "boolean", default: false },
    compressed: { type: "boolean", default: false },
    budgets: { type: "boolean", default: false },
    "report-only": { type: "boolean", default: false },
    methods: { type: "string", default: "random,kmeans,d2c,d2c-full,d2c-restarts,d2c-tuned" },
    restarts: { type: "string", default: String(DEFAULT_RESTARTS) },
    "restart-criterion": { type: "string", default: DEFAULT_RESTART_CRITERION },
    "tune-budget": { type: "string", default: String(DEFAULT_TUNE.budget) },
    folds: { type: "string", default: String(DEFAULT_TUNE.folds) },
    penalty: { type: "string", default: String(DEFAULT_TUNE.penalty) },
    sigma0: { type: "string", default: String(DEFAULT_TUNE.sigma0) },
    // The Worker's defaults (src/runs/config.ts DEFAULT_TUNE, chosen here on K = 5, seeds 0-2: docs/tuning.md).
    densities: { type: "string", default: DEFAULT_TUNE.densities.join(",") },
    scales: { type: "string", default: DEFAULT_TUNE.scales.join(",") },
    "scale-coordinate": { type: "boolean", default: DEFAULT_TUNE.scaleCoordinate },
    // Exploration: skip the two cost runs; score every restart's clustering on held-out (the R sweep).
    "skip-costs": { type: "boolean", default: false },
    "restart-detail": { type: "boolean", default: false },
  },
  allowNegative: true,
});
const ks = values.ks.split(",").map(Number);
const seeds = values.seeds.split(",").map(Number);
const maxIterations = Number(values["max-iterations"]);
const MERGE = { method: "svd", rank: 8 } as const;
type RowMethod = Method | "d2c-tuned";
const METHODS = values.methods.split(",") as RowMethod[];
const TUNING: TuningSetup = {
  restarts: Number(values.restarts),
  restartCriterion: values["restart-criterion"] as RestartCriterion,
  budget: Number(values["tune-budget"]),
  folds: Number(values.folds),
  penalty: Number(values.penalty),
  sigma0: Number(values.sigma0),
  densities: values.densities === "" ? [] : values.densities.split(",").map(Number),
  scales: values.scales.split(",").map(Number),
  scaleCoordinate: values["scale-coordinate"],
};

if (values.subsets) {
  await runSubsets({
    fixtures: values.fixtures,
    seeds,
    threads: Number(values.threads),
    maxIterations,
    merge: MERGE,
    out: values.out,
  });
} else if (values.budgets && values["report-only"]) {
  rewriteBudgetsReport(values.out);
} else if (values.budgets) {
  await runBudgets({
    fixtures: values.fixtures,
    seeds,
    threads: Number(values.threads),
    maxIterations,
    tuning: TUNING,
    out: values.out,
  });
} else if (values.compressed) {
  await runCompressed({ fixtures: values.fixtures, threads: Number(values.threads), out: values.out });
} else {
  await comparison();
}

async function comparison(): Promise<void> {
  const started = performance.now();
  const elapsed = () => (performance.now() - started) / 1000;
  const world = await loadWorld(values.fixtures, Number(values.threads));
  const n = world.tasks.length;
  const similarity = taskSimilarity(
    world.tasks.map((t) => t.adapter),
    world.model.contract.loraTargets,
  );
  console.log(
    `${n} tasks from ${values.fixtures}, loaded in ${elapsed().toFixed(1)} s; merge ${JSON.stringify(MERGE)}, ` +
      `uniform weights`,
  );

  // Cost of one D2C run at N=40-like scale, K=5, pruned and full, each from an empty cache (only the run's own reuse
  // counts).
  const costK = Math.min(5, n);
  const costOf = async (method: "d2c" | "d2c-full"): Promise<RunCost> => {
    const costScorer = new Scorer(world, MERGE);
    const costStart = performance.now();
    const run = await cluster(method, costScorer, similarity, n, costK, 0, maxIterations);
    const cost = {
      method,
      n,
      k: costK,
      iterations: run.iterations.length,
      forwardPasses: costScorer.forwardPasses,
      evaluations: costScorer.evaluations,
      cacheHits: costScorer.cacheHits,
      ms: performance.now() - costStart,
      naiveEvaluations: n * costK * run.iterations.length,
      fewShotBatches: world.tasks[0].fewshot.length,
      objective: Math.min(...run.iterations.map((x) => x.objective)),
      fixedPoint: run.fixedPoint ?? false,
    };
    console.log(
      `cost ${method} N=${n} K=${costK} seed 0: ${cost.iterations} iterations, ${cost.forwardPasses} forward passes, ` +
        `loss-cache hits ${cost.cacheHits}/${cost.evaluations} ` +
        `(${((100 * cost.cacheHits) / cost.evaluations).toFixed(0)}%), ${(cost.ms / 1000).toFixed(1)} s, J ` +
        `${cost.objective.toFixed(4)}; ` +
        `naive schedule: ${cost.naiveEvaluations * cost.fewShotBatches} forward passes`,
    );
    return cost;
  };
  const costs = values["skip-costs"] ? [] : [await costOf("d2c"), await costOf("d2c-full")];

  const scorer = new Scorer(world, MERGE);
  const rows: ResultRow[] = [];
  const configs = ks
    .filter((k) => k <= n)
    .flatMap((k) => seeds.flatMap((seed) => METHODS.map((method) => ({ k, seed, method }))));
  const total = configs.length + 2;
  const progress = (done: number, what: string) => {
    const rate = elapsed() / done;
    console.log(
      `[${done}/${total}] ${what}  elapsed ${elapsed().toFixed(0)} s, remaining ` +
        `~${(rate * (total - done)).toFixed(0)} s`,
    );
  };

  // The base model is the cluster with no members: no adapter at all.
  const base = await scoreAssignment(
    scorer,
    world.tasks.map(() => 0),
    [""],
  );
  rows.push({ method: "base", k: 0, seed: 0, ...base });
  progress(1, `base: exact match ${(100 * base.meanExactMatch).toFixed(1)}%`);
  const own = await scoreAssignment(
    scorer,
    world.tasks.map((_, t) => t),
  );
  rows.push({ method: "own", k: n, seed: 0, ...own });
  progress(2, `own: exact match ${(100 * own.meanExactMatch).toFixed(1)}%`);

  const exactMatchOfEach = async (assignments: readonly (readonly number[])[]) => {
    const out: number[] = [];
    for (const a of assignments) out.push((await scoreAssignment(scorer, a)).meanExactMatch);
    return out;
  };
  // Forward passes of each (K, seed)'s plain d2c run from an empty cache: what the new methods add to it.
  const d2cPasses = new Map<string, number>();
  for (const [i, { k, seed, method }] of configs.entries()) {
    const meter = new Meter();
    const clusterMethod: Method = method === "d2c-tuned" ? "d2c-restarts" : method;
    const run = await cluster(clusterMethod, scorer, similarity, n, k, seed, maxIterations, {
      meter,
      restarts: TUNING.restarts,
      restartCriterion: TUNING.restartCriterion,
    });
    const { assignment, iterations } = run;
    let tuned: TunedCluster[] | undefined;
    if (method === "d2c-tuned") {
      tuned = await tuneClusters(scorer, meter, clustersOf(assignment, k), {
        ...TUNING,
        methods: screenedMethods(MERGE, TUNING.densities, seed),
        seed,
      });
    }
    const score = await scoreAssignment(
      scorer,
      assignment,
      tuned?.map((c) => c.name),
    );
    if (method === "d2c") d2cPasses.set(`${k}|${seed}`, meter.forwardPasses);
    const isNew = method === "d2c-restarts" || method === "d2c-tuned";
    const passes = isNew
      ? {
          forwardPasses: meter.forwardPasses,
          extraForwardPasses: meter.forwardPasses - (d2cPasses.get(`${k}|${seed}`) ?? NaN),
        }
      : {};
    const detail = isNew
      ? {
          restartObjectives: run.restarts?.objectives,
          restartFewShot: run.restarts?.fewShotExactMatch,
          restartKept: run.restarts?.kept,
          restartExactMatch:
            values["restart-detail"] && run.restarts ? await exactMatchOfEach(run.restarts.assignments) : undefined,
          clusters: tuned?.map((c) => ({
            members: c.members,
            method: c.merge.method,
            density: c.merge.density,
            weights: c.merge.weights,
            weightsKept: c.weightsKept,
            heldBackUniform: c.heldBackUniform,
            heldBackTuned: c.heldBackTuned,
          })),
        }
      : {};
    rows.push({ method, k, seed, ...score, ...passes, ...detail });
    const extra = method.startsWith("d2c")
      ? `, ${iterations.length} iterations, J ${iterations[0].objective.toFixed(3)} -> ` +
        `${Math.min(...iterations.map((x) => x.objective)).toFixed(3)}`
      : "";
    const cost = isNew ? `, ${meter.forwardPasses} forward passes (+${passes.extraForwardPasses} over d2c)` : "";
    const chosen = tuned
      ? `, merges ${tuned
          .filter((c) => c.members.length > 1)
          .map((c) => `${c.merge.method}${c.merge.density ? "@" + c.merge.density : ""}${c.weightsKept ? "+w" : ""}`)
          .join(" ")}`
      : "";
    progress(
      i + 3,
      `K=${k} seed ${seed} ${method}: exact match ${(100 * score.meanExactMatch).toFixed(1)}%, few-shot loss ` +
        `${score.meanFewShotLoss.toFixed(3)}${extra}${cost}${chosen}`,
    );
  }

  const seconds = elapsed();
  console.log(
    `experiment: ${seconds.toFixed(0)} s, ${scorer.forwardPasses} forward passes, ` +
      `${scorer.cacheHits}/${scorer.evaluations} evaluations from cache`,
  );
  writeResults(values.out, {
    rows,
    n,
    ks,
    seeds,
    fixtures: values.fixtures,
    seconds,
    costs,
    merge: MERGE,
    maxIterations,
    tuning: TUNING,
    methods: METHODS,
    command: process.argv.slice(2).join(" ") || `--fixtures ${values.fixtures}`,
  });
}
