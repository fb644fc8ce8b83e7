/**
 * `npm run experiment [-- --fixtures DIR --ks 1,3,5,10,20,40 --seeds 0,1,2 --threads 1]`:
 * the paper's comparison on a fixtures world. For each storage budget K and seed: held-out
 * exact match and few-shot loss of random, K-means and D2C clusterings (svd merge to rank 8,
 * uniform weights), beside the base model and each task's own LoRA. Writes docs/results.{md,json,svg}.
 */
import { parseArgs } from "node:util";
import { taskSimilarity } from "../../src/clustering/taskVectors.ts";
import { cluster, scoreAssignment, type Method } from "./methods.ts";
import { writeResults, type ResultRow } from "./report.ts";
import { Scorer } from "./scorer.ts";
import { loadWorld } from "./world.ts";

const { values } = parseArgs({
  options: {
    fixtures: { type: "string", default: "r2-fixtures" },
    ks: { type: "string", default: "1,3,5,10,20,40" },
    seeds: { type: "string", default: "0,1,2" },
    threads: { type: "string", default: "1" },
    "max-iterations": { type: "string", default: "10" },
    out: { type: "string", default: "docs" },
  },
});
const ks = values.ks.split(",").map(Number);
const seeds = values.seeds.split(",").map(Number);
const maxIterations = Number(values["max-iterations"]);
const MERGE = { method: "svd", rank: 8 } as const;
const METHODS: Method[] = ["random", "kmeans", "d2c"];

const started = performance.now();
const elapsed = () => (performance.now() - started) / 1000;
const world = await loadWorld(values.fixtures, Number(values.threads));
const n = world.tasks.length;
const similarity = taskSimilarity(world.tasks.map((t) => t.adapter), world.model.contract.loraTargets);
console.log(`${n} tasks from ${values.fixtures}, loaded in ${elapsed().toFixed(1)} s; merge ${JSON.stringify(MERGE)}, uniform weights`);

// Cost of one D2C run at N=40-like scale, K=5, from an empty cache (only this run's reuse counts).
const costK = Math.min(5, n);
const costScorer = new Scorer(world, MERGE);
const costStart = performance.now();
const costRun = await cluster("d2c", costScorer, similarity, n, costK, 0, maxIterations);
const cost = {
  n, k: costK, iterations: costRun.iterations.length, forwardPasses: costScorer.forwardPasses, evaluations: costScorer.evaluations,
  cacheHits: costScorer.cacheHits, ms: performance.now() - costStart,
  naiveEvaluations: n * costK * costRun.iterations.length, fewShotBatches: world.tasks[0].fewshot.length,
};
console.log(`cost D2C N=${n} K=${costK} seed 0: ${cost.iterations} iterations, ${cost.forwardPasses} forward passes, ` +
  `loss-cache hits ${cost.cacheHits}/${cost.evaluations} (${((100 * cost.cacheHits) / cost.evaluations).toFixed(0)}%), ${(cost.ms / 1000).toFixed(1)} s; ` +
  `naive schedule: ${cost.naiveEvaluations * cost.fewShotBatches} forward passes`);

const scorer = new Scorer(world, MERGE);
const rows: ResultRow[] = [];
const configs = ks.filter((k) => k <= n).flatMap((k) => seeds.flatMap((seed) => METHODS.map((method) => ({ k, seed, method }))));
const total = configs.length + 2;
const progress = (done: number, what: string) => {
  const rate = elapsed() / done;
  console.log(`[${done}/${total}] ${what}  elapsed ${elapsed().toFixed(0)} s, remaining ~${(rate * (total - done)).toFixed(0)} s`);
};

// The base model is the cluster with no members: no adapter at all.
const base = await scoreAssignment(scorer, world.tasks.map(() => 0), [""]);
rows.push({ method: "base", k: 0, seed: 0, ...base });
progress(1, `base: exact match ${(100 * base.meanExactMatch).toFixed(1)}%`);
const own = await scoreAssignment(scorer, world.tasks.map((_, t) => t));
rows.push({ method: "own", k: n, seed: 0, ...own });
progress(2, `own: exact match ${(100 * own.meanExactMatch).toFixed(1)}%`);

for (const [i, { k, seed, method }] of configs.entries()) {
  const { assignment, iterations } = await cluster(method, scorer, similarity, n, k, seed, maxIterations);
  const score = await scoreAssignment(scorer, assignment);
  rows.push({ method, k, seed, ...score });
  const extra = method === "d2c" ? `, ${iterations.length} iterations, J ${iterations[0].objective.toFixed(3)} -> ${Math.min(...iterations.map((x) => x.objective)).toFixed(3)}` : "";
  progress(i + 3, `K=${k} seed ${seed} ${method}: exact match ${(100 * score.meanExactMatch).toFixed(1)}%, few-shot loss ${score.meanFewShotLoss.toFixed(3)}${extra}`);
}

const seconds = elapsed();
console.log(`experiment: ${seconds.toFixed(0)} s, ${scorer.forwardPasses} forward passes, ${scorer.cacheHits}/${scorer.evaluations} evaluations from cache`);
writeResults(values.out, { rows, n, ks, seeds, fixtures: values.fixtures, seconds, cost, merge: MERGE, maxIterations });
