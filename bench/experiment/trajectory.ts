/**
 * `npm run bench:trajectory [-- --fixtures r2-fixtures --k 5 --seed 0 --out test/worker/d2c-trajectory.json]`:
 * the experiment's D2C runs (methods.ts: k-means start, svd merge to rank 8, pruned m = 2 and the
 * full schedule), each from an empty cache, iteration by iteration: assignment, J, whether it was
 * full, pairs asked and forward passes. test/worker/one-d2c.test.ts holds the Worker's runs to it.
 */
import { writeFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { kmeans } from "../../src/clustering/kmeans.ts";
import { DEFAULT_PRUNE } from "../../src/clustering/pruned.ts";
import { runD2C } from "../../src/clustering/runD2C.ts";
import { taskSimilarity } from "../../src/clustering/taskVectors.ts";
import { Meter, Scorer } from "./scorer.ts";
import { loadWorld } from "./world.ts";

const { values } = parseArgs({
  options: {
    fixtures: { type: "string", default: "r2-fixtures" },
    k: { type: "string", default: "5" },
    seed: { type: "string", default: "0" },
    "max-iterations": { type: "string", default: "10" },
    out: { type: "string", default: "test/worker/d2c-trajectory.json" },
  },
});
const MERGE = { method: "svd", rank: 8 } as const;
const k = Number(values.k);
const seed = Number(values.seed);
const maxIterations = Number(values["max-iterations"]);
const world = await loadWorld(values.fixtures, 1);
const n = world.tasks.length;
const similarity = taskSimilarity(
  world.tasks.map((t) => t.adapter),
  world.model.contract.loraTargets,
);

const runs = [];
for (const prune of [DEFAULT_PRUNE, null]) {
  const scorer = new Scorer(world, MERGE);
  const meter = new Meter();
  const passes: number[] = [];
  // methods.ts's `cluster` call, with each forward pass counted against the iteration that asked for it.
  const run = await runD2C({
    n,
    k,
    start: kmeans(similarity, n, k, seed),
    similarity,
    maxIterations,
    prune,
    evaluate: async (members, t, iteration) => {
      const before = meter.forwardPasses;
      const { loss } = await scorer.score(Scorer.cluster(members), t, "fewshot", meter);
      passes[iteration] = (passes[iteration] ?? 0) + meter.forwardPasses - before;
      return loss;
    },
  });
  runs.push({
    prune,
    fixedPoint: run.fixedPoint,
    forwardPasses: meter.forwardPasses,
    iterations: run.iterations.map((it, i) => ({
      assignment: it.assignment,
      objective: it.objective,
      full: it.full,
      evaluations: it.evaluations,
      forwardPasses: passes[i] ?? 0,
    })),
  });
  console.log(
    `${prune ? "pruned" : "full"}: ${run.iterations.length} iterations, ${meter.forwardPasses} forward passes, ` +
      `J ${Math.min(...run.iterations.map((i) => i.objective)).toFixed(4)}`,
  );
}
const command = ["npm run bench:trajectory", ...(process.argv.length > 2 ? ["--", ...process.argv.slice(2)] : [])].join(
  " ",
);
const record = {
  command,
  fixtures: values.fixtures,
  tasks: world.tasks.map((t) => t.id),
  k,
  seed,
  maxIterations,
  merge: MERGE,
  runs,
};
writeFileSync(values.out, JSON.stringify(record, null, 1) + "\n");
