/**
 * `npm run bench:merge`: time of the svd merge of the 40 fixture adapters (16 modules of
 * 128 x 128, rank 8) back to rank 8, by the low-rank path (QRs of the stacked factors, SVD of
 * the R x R core) and by the dense path (delta W, SVD of 128 x 128), in Node (V8, as workerd).
 * Runs with `--experimental-transform-types` (src/ uses parameter properties) and
 * bench/extensionless.ts (src/ imports have no extension).
 */
import { readFileSync } from "node:fs";
import { mergeAdapters } from "../src/adapters/merge/index.ts";
import { lowRankSvdMerge } from "../src/adapters/merge/lowRank.ts";
import { deltaW, denseSvdMerge } from "../src/adapters/merge/svd.ts";
import { parsePeftConfig, peftToFactors } from "../src/adapters/peft.ts";
import type { AdapterFactors, LoraFactors, LoraTarget } from "../src/adapters/factors.ts";

const fixtures = (path: string) => new URL(`../r2-fixtures/${path}`, import.meta.url);
const json = (path: string) => JSON.parse(readFileSync(fixtures(path), "utf8"));
const targets: LoraTarget[] = json("models/d2c-char-lm/model.json").loraTargets;
const tasks: string[] = json("catalogue.json").tasks.map((t: { id: string }) => t.id);
const adapters = new Map<string, AdapterFactors>(
  tasks.map((t) => [
    t,
    peftToFactors(
      parsePeftConfig(json(`adapters/${t}/adapter_config.json`)),
      new Uint8Array(readFileSync(fixtures(`adapters/${t}/adapter_model.safetensors`))),
      targets,
    ),
  ]),
);
const RANK = 8;
const RUNS = 7;

type Path = (
  factors: readonly LoraFactors[],
  weights: readonly number[],
  target: LoraTarget,
  rank: number,
) => LoraFactors;

/** Median ms of RUNS runs after one warm-up, and the last run's result. */
function time<T>(run: () => T): { ms: number; result: T } {
  let result = run();
  const times: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const t0 = performance.now();
    result = run();
    times.push(performance.now() - t0);
  }
  return { ms: times.sort((a, b) => a - b)[RUNS >> 1], result };
}

/** Every cluster's svd merge by one path, all 16 modules. */
function mergeClusters(clusters: readonly string[][], path: Path): LoraFactors[] {
  return clusters.flatMap((members) => {
    const weights = members.map(() => 1 / members.length);
    return targets.map((t) =>
      path(
        members.map((m) => adapters.get(m)!.get(t.module)!),
        weights,
        t,
        RANK,
      ),
    );
  });
}

/** Worst relative Frobenius distance between the two paths' delta W. */
function disagreement(x: LoraFactors[], y: LoraFactors[]): number {
  return Math.max(
    ...x.map((f, i) => {
      const t = targets[i % targets.length];
      const [a, b] = [deltaW(f, t), deltaW(y[i], t)];
      let diff = 0;
      let norm = 0;
      a.forEach((v, j) => ((diff += (v - b[j]) ** 2), (norm += b[j] ** 2)));
      return Math.sqrt(diff / norm);
    }),
  );
}

const byApplication = [...new Set(tasks.map((t) => t.split("-")[0]))].map((app) =>
  tasks.filter((t) => t.startsWith(`${app}-`)),
);
const scenarios: Array<[string, string[][]]> = [
  [`40 adapters -> 5 clusters of 8 (one D2C iteration at K=5), summed rank 64 per module`, byApplication],
  [`40 adapters -> 1 (merge-all), summed rank 320 >= 128`, [tasks]],
  [`3 adapters -> 1 (the golden set), summed rank 24`, [["gec-de", "sum-de", "gec-fr"]]],
];
console.log(
  `svd merge to rank ${RANK}, ${targets.length} modules of ${targets[0].out} x ${targets[0].in}, median of ` +
    `${RUNS} runs (Node ${process.version})`,
);
for (const [name, clusters] of scenarios) {
  const lowRank = time(() => mergeClusters(clusters, lowRankSvdMerge));
  const dense = time(() => mergeClusters(clusters, denseSvdMerge));
  const chosen = time(() =>
    clusters.map((members) =>
      mergeAdapters(
        members.map((m) => adapters.get(m)!),
        targets,
        { method: "svd", rank: RANK },
      ),
    ),
  );
  console.log(
    `${name}:\n  low-rank path ${lowRank.ms.toFixed(1)} ms, dense path ${dense.ms.toFixed(1)} ms ` +
      `(${(dense.ms / lowRank.ms).toFixed(2)}x); ` +
      `mergeAdapters ${chosen.ms.toFixed(1)} ms; delta W of the two paths differs by ` +
      `${disagreement(lowRank.result, dense.result).toExponential(1)} (relative Frobenius, float32 factors)`,
  );
}
const ties = time(() =>
  byApplication.map((members) =>
    mergeAdapters(
      members.map((m) => adapters.get(m)!),
      targets,
      { method: "ties_svd", rank: RANK },
    ),
  ),
);
console.log(`ties_svd (dense only), 5 clusters of 8: ${ties.ms.toFixed(1)} ms`);
