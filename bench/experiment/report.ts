/** docs/results.json (every number), docs/results.md (the table) and docs/results.svg (the plot). */
import { writeFileSync } from "node:fs";
import { join } from "node:path";

export interface ResultRow {
  /** `d2c` is pruned D2C (the default schedule), `d2c-full` every task under every cluster every iteration. */
  readonly method: "base" | "random" | "kmeans" | "d2c" | "d2c-full" | "own";
  readonly k: number;
  readonly seed: number;
  readonly meanExactMatch: number;
  readonly meanFewShotLoss: number;
}

/** What an experiment ran on and how long it took: the header of its report. */
export interface ExperimentSetup {
  readonly n: number;
  readonly seeds: readonly number[];
  readonly fixtures: string;
  readonly seconds: number;
  readonly merge: object;
  readonly maxIterations: number;
}

export interface Results extends ExperimentSetup {
  readonly rows: readonly ResultRow[];
  readonly ks: readonly number[];
  readonly costs: readonly RunCost[];
}

/** One D2C run from an empty cache: what it cost and where it ended. */
export interface RunCost {
  readonly method: "d2c" | "d2c-full";
  readonly n: number;
  readonly k: number;
  readonly iterations: number;
  readonly forwardPasses: number;
  readonly evaluations: number;
  readonly cacheHits: number;
  readonly ms: number;
  readonly naiveEvaluations: number;
  readonly fewShotBatches: number;
  readonly objective: number;
  readonly fixedPoint: boolean;
}

const CLUSTERED = ["random", "kmeans", "d2c", "d2c-full"] as const;
const COLOURS = { base: "#888888", random: "#d62728", kmeans: "#1f77b4", d2c: "#2ca02c", "d2c-full": "#9467bd", own: "#000000" } as const;
const LABELS = { base: "base", random: "random", kmeans: "K-means", d2c: "D2C (pruned)", "d2c-full": "D2C (full)", own: "own" } as const;

const pct = (x: number) => (100 * x).toFixed(1);

/** Mean and population std over seeds of the exact match of one method at one K. */
export function summary(rows: readonly ResultRow[], method: string, k: number): { mean: number; std: number } | null {
  const xs = rows.filter((r) => r.method === method && r.k === k).map((r) => r.meanExactMatch);
  if (xs.length === 0) return null;
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
  return { mean, std: Math.sqrt(xs.reduce((a, x) => a + (x - mean) ** 2, 0) / xs.length) };
}

export function writeResults(dir: string, results: Results): void {
  writeFileSync(join(dir, "results.json"), JSON.stringify(results.rows, null, 1) + "\n");
  writeFileSync(join(dir, "results.svg"), plot(results));
  writeFileSync(join(dir, "results.md"), markdown(results));
}

function markdown(r: Results): string {
  const base = summary(r.rows, "base", 0)!;
  const own = summary(r.rows, "own", r.n)!;
  const ks = r.ks.filter((k) => k <= r.n);
  const lines = [
    "# D2C against random and K-means on the reference world",
    "",
    `Held-out exact match (%, mean over ${r.n} tasks; mean ± std over seeds ${r.seeds.join(", ")}) of each task under its`,
    `cluster's merged adapter (merge ${JSON.stringify(r.merge)}, uniform weights; D2C at most ${r.maxIterations} iterations).`,
    `Base model ${pct(base.mean)}%, own LoRAs (100% storage) ${pct(own.mean)}%.`,
    "",
    "`d2c` is pruned D2C (each task under its own cluster and its m = 2 most promising others, a full sweep before a fixed",
    "point is declared), `d2c-full` the full schedule (every task under every cluster every iteration).",
    "",
    "| K | storage | random | K-means | D2C (pruned) | D2C (full) | pruned - full | pruned - K-means |",
    "|---|---|---|---|---|---|---|---|",
    ...ks.map((k) => {
      const [random, kmeans, d2c, full] = CLUSTERED.map((m) => summary(r.rows, m, k)!);
      const cell = (s: { mean: number; std: number }) => `${pct(s.mean)} ± ${pct(s.std)}`;
      const diff = (a: number, b: number) => (100 * (a - b)).toFixed(1);
      return `| ${k} | ${pct(k / r.n)}% | ${cell(random)} | ${cell(kmeans)} | ${cell(d2c)} | ${cell(full)} | ${diff(d2c.mean, full.mean)} | ${diff(d2c.mean, kmeans.mean)} |`;
    }),
    "",
    "![exact match against storage](results.svg)",
    "",
    ...r.costs.map((c) =>
      `Cost of one ${LABELS[c.method]} run (N=${c.n}, K=${c.k}, seed 0, empty cache): ${c.iterations} iterations, ` +
      `${c.forwardPasses} forward passes (${c.evaluations} task x cluster evaluations, ${c.cacheHits} answered by the loss cache), ` +
      `${(c.ms / 1000).toFixed(1)} s, best J ${c.objective.toFixed(4)}${c.fixedPoint ? " at a full-sweep fixed point" : " (stopped at the iteration cap)"}; ` +
      `the naive schedule (every task under every cluster every iteration) needs ${c.naiveEvaluations * c.fewShotBatches} forward passes ` +
      `for as many iterations (${((100 * c.forwardPasses) / (c.naiveEvaluations * c.fewShotBatches)).toFixed(0)}%).`),
    "",
    `Produced by \`npm run experiment -- --fixtures ${r.fixtures}\` in ${r.seconds.toFixed(0)} s (onnxruntime-node, one thread, this machine: 2 cores).`,
    "Every number behind the table: [results.json](results.json).",
    "",
  ];
  return lines.join("\n");
}

function plot(r: Results): string {
  const W = 640, H = 400, L = 60, R = 120, T = 30, B = 50;
  const x = (k: number) => L + ((W - L - R) * Math.log(k)) / Math.log(r.n);
  const y = (v: number) => T + (H - T - B) * (1 - v);
  const ks = r.ks.filter((k) => k <= r.n);
  const series = CLUSTERED.map((m) => {
    const points = ks.map((k) => [x(k), y(summary(r.rows, m, k)!.mean)] as const);
    return `<polyline fill="none" stroke="${COLOURS[m]}" stroke-width="2" points="${points.map((p) => p.join(",")).join(" ")}"/>` +
      points.map(([px, py]) => `<circle cx="${px}" cy="${py}" r="3" fill="${COLOURS[m]}"/>`).join("");
  });
  const hline = (m: "base" | "own", k: number) => {
    const v = summary(r.rows, m, k)!.mean;
    return `<line x1="${L}" x2="${W - R}" y1="${y(v)}" y2="${y(v)}" stroke="${COLOURS[m]}" stroke-dasharray="4 3"/>`;
  };
  const ticks = ks.map((k) => `<text x="${x(k)}" y="${H - B + 18}" text-anchor="middle">${pct(k / r.n).replace(".0", "")}%</text>`);
  const yticks = [0, 0.2, 0.4, 0.6, 0.8, 1].map((v) => `<text x="${L - 8}" y="${y(v) + 4}" text-anchor="end">${v * 100}</text><line x1="${L}" x2="${W - R}" y1="${y(v)}" y2="${y(v)}" stroke="#eee"/>`);
  const legend = (["d2c", "d2c-full", "kmeans", "random", "own", "base"] as const).map((m, i) =>
    `<rect x="${W - R + 12}" y="${T + i * 20}" width="12" height="3" fill="${COLOURS[m]}"/><text x="${W - R + 30}" y="${T + i * 20 + 5}">${LABELS[m]}</text>`);
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="12">
<rect width="${W}" height="${H}" fill="white"/>
${yticks.join("\n")}
<line x1="${L}" x2="${W - R}" y1="${H - B}" y2="${H - B}" stroke="#333"/><line x1="${L}" x2="${L}" y1="${T}" y2="${H - B}" stroke="#333"/>
${ticks.join("\n")}
<text x="${(L + W - R) / 2}" y="${H - 10}" text-anchor="middle">storage (K of ${r.n} adapters, log scale)</text>
<text x="16" y="${(T + H - B) / 2}" text-anchor="middle" transform="rotate(-90 16 ${(T + H - B) / 2})">held-out exact match (%)</text>
${hline("base", 0)}${hline("own", r.n)}
${series.join("\n")}
${legend.join("\n")}
</svg>
`;
}
