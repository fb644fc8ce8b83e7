/** docs/results.json (every number), docs/results.md (the table) and docs/results.svg (the plot). */
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { TuneSettings } from "../../src/runs/config.ts";
import type { RestartCriterion } from "../../src/tuning/restarts.ts";
import type { BudgetsReport } from "./budgets.ts";
import { budgetsSection } from "./budgetsReport.ts";

export interface ResultRow {
  /**
   * `d2c` is pruned D2C (the default schedule), `d2c-full` every task under every cluster every
   * iteration; `d2c-restarts` pruned D2C from several starts, `d2c-tuned` that plus tuned merges.
   */
  readonly method: "base" | "random" | "kmeans" | "d2c" | "d2c-full" | "own" | "d2c-restarts" | "d2c-tuned";
  readonly k: number;
  readonly seed: number;
  readonly meanExactMatch: number;
  readonly meanFewShotLoss: number;
  /** New methods only: few-shot forward passes of the whole run from an empty cache, and those beyond plain d2c's. */
  readonly forwardPasses?: number;
  readonly extraForwardPasses?: number;
  /** New methods only: best J of each start, the start kept, and each cluster's chosen merge (d2c-tuned). */
  readonly restartObjectives?: readonly number[];
  readonly restartKept?: number;
  /** Exploration (--restart-detail): held-out exact match of every start's clustering. */
  readonly restartExactMatch?: readonly number[];
  /** Few-shot exact match of every start's clustering (the exactMatch criterion; no held-out example). */
  readonly restartFewShot?: readonly number[];
  readonly clusters?: readonly object[];
}

/** Settings of the issue-15 methods, as run: the Worker's tuning settings and its restarts. */
export interface TuningSetup extends TuneSettings {
  readonly restarts: number;
  readonly restartCriterion: RestartCriterion;
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
  readonly tuning: TuningSetup;
  readonly methods: readonly string[];
  /** The arguments the experiment ran with, for the report's "produced by" line. */
  readonly command: string;
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

const CLUSTERED = ["random", "kmeans", "d2c", "d2c-full", "d2c-restarts", "d2c-tuned"] as const;
type Clustered = (typeof CLUSTERED)[number];
const COLOURS = {
  base: "#888888",
  random: "#d62728",
  kmeans: "#1f77b4",
  d2c: "#2ca02c",
  "d2c-full": "#9467bd",
  "d2c-restarts": "#ff7f0e",
  "d2c-tuned": "#8c564b",
  own: "#000000",
} as const;
const LABELS = {
  base: "base",
  random: "random",
  kmeans: "K-means",
  d2c: "D2C (pruned)",
  "d2c-full": "D2C (full)",
  "d2c-restarts": "D2C restarts",
  "d2c-tuned": "D2C tuned",
  own: "own",
} as const;

const pct = (x: number) => (100 * x).toFixed(1);

/** Mean and population std over seeds of the exact match of one method at one K. */
export function summary(rows: readonly ResultRow[], method: string, k: number): { mean: number; std: number } | null {
  const xs = rows.filter((r) => r.method === method && r.k === k).map((r) => r.meanExactMatch);
  if (xs.length === 0) return null;
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
  return { mean, std: Math.sqrt(xs.reduce((a, x) => a + (x - mean) ** 2, 0) / xs.length) };
}

export function writeResults(dir: string, results: Results): void {
  writeFileSync(join(dir, "results.json"), `${JSON.stringify(results.rows, null, 1)}\n`);
  writeFileSync(join(dir, "results.svg"), plot(results));
  // The byte-budget comparison (budgets.ts) has its own command; its table is repeated here where it was written.
  const budgets = existsSync(join(dir, "budgets.json"))
    ? (JSON.parse(readFileSync(join(dir, "budgets.json"), "utf8")) as BudgetsReport)
    : null;
  writeFileSync(join(dir, "results.md"), markdown(results) + (budgets ? budgetsSection(budgets) : ""));
}

function markdown(r: Results): string {
  const base = summary(r.rows, "base", 0)!;
  const own = summary(r.rows, "own", r.n)!;
  const ks = r.ks.filter((k) => k <= r.n);
  const shown = CLUSTERED.filter((m) => r.rows.some((row) => row.method === m));
  const has = (m: Clustered) => shown.includes(m);
  const diff = (a: number, b: number) => (100 * (a - b)).toFixed(1);
  // Differences worth a column, where both methods ran.
  const diffs = (
    [
      ["d2c", "d2c-full", "pruned - full"],
      ["d2c", "kmeans", "pruned - K-means"],
      ["d2c-restarts", "d2c", "restarts - pruned"],
      ["d2c-tuned", "d2c", "tuned - pruned"],
    ] as const
  ).filter(([a, b]) => has(a) && has(b));
  const tuning = r.tuning;
  const lines = [
    "# D2C against random and K-means on the reference world",
    "",
    `Held-out exact match (%, mean over ${r.n} tasks; mean ± std over seeds ${r.seeds.join(", ")}) of each ` +
      `task under its`,
    `cluster's merged adapter (merge ${JSON.stringify(r.merge)}, uniform weights; D2C at most ` +
      `${r.maxIterations} iterations).`,
    `Base model ${pct(base.mean)}%, own LoRAs (100% storage) ${pct(own.mean)}%.`,
    "",
    "`d2c` is pruned D2C (each task under its own cluster and its m = 2 most promising others, a full sweep " +
      "before a fixed",
    "point is declared), `d2c-full` the full schedule (every task under every cluster every iteration).",
    ...(has("d2c-restarts") || has("d2c-tuned")
      ? [
          `\`d2c-restarts\` (issue 15) runs pruned D2C from ${tuning.restarts} seeded k-means starts and keeps ${
            tuning.restartCriterion === "loss"
              ? "the lowest few-shot J"
              : "the highest few-shot exact match (then the lowest few-shot J)"
          };`,
          `\`d2c-tuned\` then chooses each cluster's merge on its members' few-shot loss: first a screen of fixed ` +
            `merges, ${
              tuning.densities.length
                ? `svd and ties_svd,` +
                  ` dare_ties_svd, magnitude_prune_svd at densities ${tuning.densities.join(", ")}`
                : "svd"
            } at uniform weights times ${tuning.scales.join(", ")}`,
          `(TIES-family from weights 1), then per-member weights by CMA-ES (${tuning.budget} evaluations per fold,`,
          `${tuning.scaleCoordinate ? "a shared log scale plus per-member log weights" : "per-member log weights"}` +
            `, step ${tuning.sigma0}, penalty ${tuning.penalty} on the worst member),`,
          `kept only when they beat the screened merge on ${tuning.folds} held-back folds of the few-shot ` +
            `examples. Held-out examples are never used to choose.`,
          "What was tried on the way to these settings, and the restart criteria compared: [tuning.md](tuning.md).",
        ]
      : []),
    "",
    `| K | storage | ${shown.map((m) => LABELS[m]).join(" | ")} | ${diffs.map(([, , label]) => label).join(" | ")} |`,
    `|---|---|${shown.map(() => "---").join("|")}|${diffs.map(() => "---").join("|")}|`,
    ...ks.map((k) => {
      const cells = shown.map((m) => {
        const s = summary(r.rows, m, k)!;
        return `${pct(s.mean)} ± ${pct(s.std)}`;
      });
      const ds = diffs.map(([a, b]) => diff(summary(r.rows, a, k)!.mean, summary(r.rows, b, k)!.mean));
      return `| ${k} | ${pct(k / r.n)}% | ${cells.join(" | ")} | ${ds.join(" | ")} |`;
    }),
    "",
    "![exact match against storage](results.svg)",
    "",
    ...newMethodTable(r, ks),
    ...r.costs.map(
      (c) =>
        `Cost of one ${LABELS[c.method]} run (N=${c.n}, K=${c.k}, seed 0, empty cache): ${c.iterations} iterations, ` +
        `${c.forwardPasses} forward passes (${c.evaluations} task x cluster evaluations, ${c.cacheHits} ` +
        `answered by the loss cache), ` +
        `${(c.ms / 1000).toFixed(1)} s, best J ` +
        `${c.objective.toFixed(4)}` +
        `${c.fixedPoint ? " at a full-sweep fixed point" : " (stopped at the iteration cap)"}` +
        `; ` +
        `the naive schedule (every task under every cluster every iteration) needs ` +
        `${c.naiveEvaluations * c.fewShotBatches} forward passes ` +
        `for as many iterations (${((100 * c.forwardPasses) / (c.naiveEvaluations * c.fewShotBatches)).toFixed(0)}%).`,
    ),
    "",
    `Produced by \`npm run experiment -- ${r.command}\` in ${r.seconds.toFixed(0)} s (onnxruntime-node, one ` +
      `thread, this machine: 2 cores).`,
    "Every number behind the table: [results.json](results.json).",
    "",
  ];
  return lines.join("\n");
}

/**
 * Per seed, for the issue-15 methods: held-out exact match beside d2c and K-means, and the forward passes each run
 * adds.
 */
function newMethodTable(r: Results, ks: readonly number[]): string[] {
  const fresh = (["d2c-restarts", "d2c-tuned"] as const).filter((m) => r.rows.some((row) => row.method === m));
  if (fresh.length === 0) return [];
  const at = (m: string, k: number, seed: number) =>
    r.rows.find((row) => row.method === m && row.k === k && row.seed === seed);
  const em = (row: ResultRow | undefined) => (row ? pct(row.meanExactMatch) : "-");
  return [
    "Per seed (held-out exact match %; forward passes: few-shot passes of the whole run from an empty cache, " +
      "+ those beyond plain `d2c`'s):",
    "",
    `| K | seed | K-means | D2C (pruned) | ${fresh.map((m) => `${LABELS[m]} | passes`).join(" | ")} |`,
    `|---|---|---|---|${fresh.map(() => "---|---").join("|")}|`,
    ...ks.flatMap((k) =>
      r.seeds.map(
        (seed) =>
          `| ${k} | ${seed} | ${em(at("kmeans", k, seed))} | ${em(at("d2c", k, seed))} | ${fresh
            .map((m) => {
              const row = at(m, k, seed);
              return `${em(row)} | ${row?.forwardPasses ?? "-"} (+${row?.extraForwardPasses ?? "-"})`;
            })
            .join(" | ")} |`,
      ),
    ),
    "",
  ];
}

function plot(r: Results): string {
  const W = 640,
    H = 400,
    L = 60,
    R = 120,
    T = 30,
    B = 50;
  const x = (k: number) => L + ((W - L - R) * Math.log(k)) / Math.log(r.n);
  const y = (v: number) => T + (H - T - B) * (1 - v);
  const ks = r.ks.filter((k) => k <= r.n);
  const shown = CLUSTERED.filter((m) => r.rows.some((row) => row.method === m));
  const series = shown.map((m) => {
    const points = ks.map((k) => [x(k), y(summary(r.rows, m, k)!.mean)] as const);
    return (
      `<polyline fill="none" stroke="${COLOURS[m]}" stroke-width="2" ` +
      `points="${points.map((p) => p.join(",")).join(" ")}"/>` +
      points.map(([px, py]) => `<circle cx="${px}" cy="${py}" r="3" fill="${COLOURS[m]}"/>`).join("")
    );
  });
  const hline = (m: "base" | "own", k: number) => {
    const v = summary(r.rows, m, k)!.mean;
    return `<line x1="${L}" x2="${W - R}" y1="${y(v)}" y2="${y(v)}" stroke="${COLOURS[m]}" stroke-dasharray="4 3"/>`;
  };
  const ticks = ks.map(
    (k) => `<text x="${x(k)}" y="${H - B + 18}" text-anchor="middle">${pct(k / r.n).replace(".0", "")}%</text>`,
  );
  const yticks = [0, 0.2, 0.4, 0.6, 0.8, 1].map(
    (v) =>
      `<text x="${L - 8}" y="${y(v) + 4}" text-anchor="end">${v * 100}</text><line x1="${L}" x2="${W - R}" ` +
      `y1="${y(v)}" y2="${y(v)}" stroke="#eee"/>`,
  );
  const legend = (
    [
      ...(["d2c-tuned", "d2c-restarts", "d2c", "d2c-full", "kmeans", "random"] as const).filter((m) =>
        shown.includes(m),
      ),
      "own",
      "base",
    ] as const
  ).map(
    (m, i) =>
      `<rect x="${W - R + 12}" y="${T + i * 20}" width="12" height="3" fill="${COLOURS[m]}"/><text ` +
      `x="${W - R + 30}" y="${T + i * 20 + 5}">${LABELS[m]}</text>`,
  );
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="12">
<rect width="${W}" height="${H}" fill="white"/>
${yticks.join("\n")}
<line x1="${L}" x2="${W - R}" y1="${H - B}" y2="${H - B}" stroke="#333"/><line x1="${L}" x2="${L}" y1="${T}" ` +
    `y2="${H - B}" stroke="#333"/>
${ticks.join("\n")}
<text x="${(L + W - R) / 2}" y="${H - 10}" text-anchor="middle">storage (K of ${r.n} adapters, log scale)</text>
<text x="16" y="${(T + H - B) / 2}" text-anchor="middle" transform="rotate(-90 16 ${(T + H - B) / 2})">held-out ` +
    `exact match (%)</text>
${hline("base", 0)}${hline("own", r.n)}
${series.join("\n")}
${legend.join("\n")}
</svg>
`
  );
}
