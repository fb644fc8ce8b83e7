/**
 * A one-off probe behind docs/tuning.md (issue 15): pruned D2C's clusters (seeds 0-2, K from argv,
 * default 5), each merged with fixed settings: svd with uniform weights times c, and the pruning
 * methods at uniform 1/n weights. Held-out exact match and few-shot loss per setting. It looked at
 * held-out figures to pick the scale grid that d2c-tuned screens on few-shot loss; no per-cluster choice uses it.
 * `node --experimental-transform-types --import ./bench/extensionless.ts bench/experiment/probeScale.ts 5`
 */
import { clustersOf } from "../../src/clustering/assignment.ts";
import { taskSimilarity } from "../../src/clustering/taskVectors.ts";
import { cluster } from "./methods.ts";
import { Scorer } from "./scorer.ts";
import { loadWorld } from "./world.ts";
const world = await loadWorld("r2-fixtures", 1);
const MERGE = { method: "svd", rank: 8 } as const;
const scorer = new Scorer(world, MERGE);
const sim = taskSimilarity(
  world.tasks.map((t) => t.adapter),
  world.model.contract.loraTargets,
);
const k = Number(process.argv[2] ?? 5);
const variants: Array<[string, (m: number) => object]> = [
  ["svd x1", (m) => ({ ...MERGE, weights: Array(m).fill(1 / m) })],
  ["svd x1.5", (m) => ({ ...MERGE, weights: Array(m).fill(1.5 / m) })],
  ["svd x2", (m) => ({ ...MERGE, weights: Array(m).fill(2 / m) })],
  ["svd x3", (m) => ({ ...MERGE, weights: Array(m).fill(3 / m) })],
  ["svd x4", (m) => ({ ...MERGE, weights: Array(m).fill(4 / m) })],
  ["ties .5", (m) => ({ ...MERGE, method: "ties_svd", density: 0.5, weights: Array(m).fill(1 / m) })],
  ["ties .5 x2", (m) => ({ ...MERGE, method: "ties_svd", density: 0.5, weights: Array(m).fill(2 / m) })],
  ["mag .5", (m) => ({ ...MERGE, method: "magnitude_prune_svd", density: 0.5, weights: Array(m).fill(1 / m) })],
  ["dare .5", (m) => ({ ...MERGE, method: "dare_ties_svd", density: 0.5, weights: Array(m).fill(1 / m) })],
];
for (const seed of [0, 1, 2]) {
  const { assignment } = await cluster("d2c", scorer, sim, world.tasks.length, k, seed, 10);
  const clusters = clustersOf(assignment, k);
  for (const [label, make] of variants) {
    const t0 = performance.now();
    let em = 0,
      fl = 0;
    for (const members of clusters) {
      const name = Scorer.tuned(members, make(members.length) as never);
      for (const t of members) {
        em += (await scorer.score(name, t, "test")).exactMatch;
        fl += (await scorer.score(name, t, "fewshot")).loss;
      }
    }
    console.log(
      `K=${k} seed ${seed} ${label.padEnd(12)} held-out EM ${((100 * em) / 40).toFixed(1)} few-shot ` +
        `${(fl / 40).toFixed(4)}  ${((performance.now() - t0) / 1000).toFixed(1)} s  sizes ` +
        `${clusters.map((c) => c.length).join(",")}`,
    );
  }
}
