/**
 * `npm run experiment -- --budgets` (issue 21): held-out exact match against the bytes a device
 * stores, per budget (a fraction of the 40 own adapters at fp16) and seed, for
 *   - `d2c`, `d2c-tuned`: the largest K of fp16 rank-8 merged adapters that fits (methods.ts,
 *     tuning.ts: the modules the ClusterRun runs), counted at their tensors' bytes as the own
 *     adapters are;
 *   - `own-compressed`: every task's own adapter at one rank and dtype, the lowest mean few-shot
 *     loss among those that fit (or none);
 *   - `shared`: a basis per cluster of `d2c` at each K it ran, with a full core per task (int4),
 *     the largest rank that fits, the K with the lowest few-shot loss;
 *   - `alloc`: src/budget (the Worker's candidates and knapsack): per task a private part or
 *     none, the least summed few-shot loss that fits, part files' headers counted.
 * Choices read few-shot examples only; `alloc` and `own-compressed` have no seed (the same rows
 * for every seed). Writes docs/budgets.{json,md,svg}.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { clustersOf } from "../../src/clustering/assignment.ts";
import { taskSimilarity } from "../../src/clustering/taskVectors.ts";
import { decodePart, encodePart } from "../../src/adapters/parts/partFile.ts";
import { materialise, privatePart, privatePartBytes } from "../../src/adapters/parts/privatePart.ts";
import {
  basisBytes,
  coreBytes,
  materialiseShared,
  sharedBasis,
  taskCore,
} from "../../src/adapters/parts/sharedPart.ts";
import type { AdapterFactors } from "../../src/adapters/factors.ts";
import { allocate } from "../../src/budget/allocate.ts";
import { DEFAULT_PART_CONFIGS, partConfigName, type PartConfig } from "../../src/budget/candidates.ts";
import { screenedMethods } from "../../src/tuning/screen.ts";
import { cluster, scoreAssignment } from "./methods.ts";
import type { TuningSetup } from "./report.ts";
import { Meter, Scorer } from "./scorer.ts";
import { tuneClusters } from "./tuning.ts";
import { loadWorld } from "./world.ts";
import { budgetsMarkdown, budgetsSvg } from "./budgetsReport.ts";
import { score } from "./compressed.ts";

export const BUDGET_FRACTIONS = [0.025, 0.05, 0.075, 0.125, 0.25, 0.5];
const MERGE = { method: "svd", rank: 8 } as const;
/** Ranks a shared basis is tried at (the largest that fits is kept per K). */
const SHARED_RANKS = [4, 8, 12, 16, 20, 24, 32];

export type BudgetMethod = "d2c" | "d2c-tuned" | "own-compressed" | "shared" | "alloc";

export interface BudgetRow {
  readonly budgetFraction: number;
  readonly budgetBytes: number;
  readonly method: BudgetMethod;
  readonly seed: number;
  /** Held-out, in %; null when nothing fits (then the tasks run the base model: `baseExactMatch`). */
  readonly meanExactMatch: number;
  readonly bytes: number;
  /** Few-shot forward passes the method's choice cost from an empty cache. */
  readonly forwardPasses: number;
  /** What the device stores: part kind and configuration, and how many ("int4 r3": 12). */
  readonly parts: Readonly<Record<string, number>>;
  readonly k?: number;
}

export interface BudgetsOptions {
  readonly fixtures: string;
  readonly seeds: readonly number[];
  readonly threads: number;
  readonly maxIterations: number;
  readonly tuning: TuningSetup;
  readonly out: string;
}

type Scored = Awaited<ReturnType<typeof score>>;

/** Held-out exact match in % over the tasks' test examples. */
const exactMatch = (rows: readonly { test: Scored }[]) =>
  (100 * rows.reduce((s, r) => s + r.test.exact, 0)) / rows.reduce((s, r) => s + r.test.n, 0);

/**
 * `--report-only`: budgets.md and budgets.svg written again from the budgets.json in `dir` (a wording change, no
 * measurement).
 */
export function rewriteBudgetsReport(dir: string): void {
  const report = JSON.parse(readFileSync(join(dir, "budgets.json"), "utf8")) as BudgetsReport;
  writeFileSync(join(dir, "budgets.md"), budgetsMarkdown(report));
  writeFileSync(join(dir, "budgets.svg"), budgetsSvg(report));
}

export async function runBudgets(options: BudgetsOptions): Promise<void> {
  const started = performance.now();
  const world = await loadWorld(options.fixtures, options.threads);
  const targets = world.model.contract.loraTargets;
  const n = world.tasks.length;
  const mergedBytes = privatePartBytes(targets, MERGE.rank, "fp16");
  const ownBytes = world.tasks.reduce(
    (s, t) => s + privatePartBytes(targets, t.adapter.get(targets[0].module)!.rank, "fp16"),
    0,
  );
  const fewshotBatches = world.tasks.reduce((s, t) => s + t.fewshot.length, 0);
  const budgets = BUDGET_FRACTIONS.map((f) => ({ fraction: f, bytes: Math.floor(f * ownBytes) }));
  const rows: BudgetRow[] = [];
  const log = (what: string) => console.log(`[${((performance.now() - started) / 1000).toFixed(0)} s] ${what}`);

  // Every task under each private part (from its file's bytes, as a device runs it) and under none.
  const configs: (PartConfig | null)[] = [null, ...DEFAULT_PART_CONFIGS];
  const measured: { bytes: number; fewshot: Scored; test: Scored }[][] = [];
  for (const config of configs) {
    const row = [];
    for (const task of world.tasks) {
      let adapter: AdapterFactors | null = null;
      let bytes = 0;
      if (config) {
        const file = encodePart(privatePart(task.id, task.adapter, targets, config.rank, config.dtype), targets);
        bytes = file.byteLength;
        adapter = materialise(decodePart(file, targets), targets);
      }
      row.push({
        bytes,
        fewshot: await score(world, task.fewshot, adapter),
        test: await score(world, task.test, adapter),
      });
    }
    measured.push(row);
    log(`private ${partConfigName(config)}: held-out ${exactMatch(row).toFixed(1)}%`);
  }
  const baseExactMatch = exactMatch(measured[0]);
  const count = (names: readonly string[]) =>
    names.reduce<Record<string, number>>((p, c) => {
      p[c] = (p[c] ?? 0) + 1;
      return p;
    }, {});
  const seedless: BudgetRow[] = budgets.flatMap(({ fraction, bytes: budgetBytes }) => {
    const uniform = configs
      .slice(1)
      .map((_, i) => measured[i + 1])
      .map((row, i) => ({
        c: i + 1,
        bytes: row.reduce((s, m) => s + m.bytes, 0),
        loss: row.reduce((s, m) => s + m.fewshot.loss, 0),
      }))
      .filter((u) => u.bytes <= budgetBytes);
    const pick = uniform.length ? uniform.reduce((a, b) => (b.loss < a.loss ? b : a)) : null;
    const allocation = allocate(
      world.tasks.map((_, t) =>
        configs.map((_, c) => ({ bytes: measured[c][t].bytes, loss: measured[c][t].fewshot.loss })),
      ),
      budgetBytes,
    )!;
    const chosen = allocation.choices.map((c, t) => measured[c][t]);
    return [
      {
        budgetFraction: fraction,
        budgetBytes,
        method: "own-compressed",
        seed: 0,
        meanExactMatch: pick ? exactMatch(measured[pick.c]) : baseExactMatch,
        bytes: pick?.bytes ?? 0,
        forwardPasses: pick ? fewshotBatches * configs.length : 0,
        parts: pick ? { [`private ${partConfigName(configs[pick.c])}`]: n } : {},
      },
      {
        budgetFraction: fraction,
        budgetBytes,
        method: "alloc",
        seed: 0,
        meanExactMatch: exactMatch(chosen),
        bytes: allocation.bytes,
        forwardPasses: fewshotBatches * configs.length,
        parts: count(allocation.choices.filter((c) => c > 0).map((c) => `private ${partConfigName(configs[c])}`)),
      },
    ];
  });

  const similarity = taskSimilarity(
    world.tasks.map((t) => t.adapter),
    targets,
  );
  const scorer = new Scorer(world, MERGE);
  const ks = [...new Set(budgets.map((b) => Math.min(n, Math.floor(b.bytes / mergedBytes))))].filter((k) => k >= 1);
  for (const seed of options.seeds) {
    for (const row of seedless) rows.push({ ...row, seed });
    const d2cByK = new Map<number, { assignment: number[]; passes: number }>();
    for (const k of ks) {
      for (const method of ["d2c", "d2c-tuned"] as const) {
        const meter = new Meter();
        const run = await cluster(
          method === "d2c" ? "d2c" : "d2c-restarts",
          scorer,
          similarity,
          n,
          k,
          seed,
          options.maxIterations,
          {
            meter,
            restarts: options.tuning.restarts,
            restartCriterion: options.tuning.restartCriterion,
          },
        );
        const tuned =
          method === "d2c-tuned"
            ? await tuneClusters(scorer, meter, clustersOf(run.assignment, k), {
                ...options.tuning,
                methods: screenedMethods(MERGE, options.tuning.densities, seed),
                seed,
              })
            : undefined;
        const scored = await scoreAssignment(
          scorer,
          run.assignment,
          tuned?.map((c) => c.name),
        );
        if (method === "d2c") d2cByK.set(k, { assignment: [...run.assignment], passes: meter.forwardPasses });
        for (const b of budgets.filter((b) => Math.min(n, Math.floor(b.bytes / mergedBytes)) === k)) {
          rows.push({
            budgetFraction: b.fraction,
            budgetBytes: b.bytes,
            method,
            seed,
            k,
            meanExactMatch: 100 * scored.meanExactMatch,
            bytes: k * mergedBytes,
            forwardPasses: meter.forwardPasses,
            parts: { "merged 8/fp16": k },
          });
        }
        log(
          `seed ${seed} K=${k} ${method}: held-out ${(100 * scored.meanExactMatch).toFixed(1)}%, ` +
            `${meter.forwardPasses} forward passes`,
        );
      }
    }
    // Shared bases on d2c's clusters: per budget, each K's largest fitting rank, kept by few-shot loss.
    const sharedScores = new Map<string, { fewshot: number; rows: { test: Scored }[] }>();
    const sharedOf = async (k: number, rank: number) => {
      const key = `${k}|${rank}`;
      const known = sharedScores.get(key);
      if (known) return known;
      const clusters = clustersOf(d2cByK.get(k)!.assignment, k);
      const scoredRows: { fewshot: Scored; test: Scored }[] = new Array(n);
      for (const members of clusters) {
        if (members.length === 0) continue;
        const basis = sharedBasis(
          members.map((t) => world.tasks[t].adapter),
          targets,
          rank,
          "int4",
        );
        for (const t of members) {
          const adapter = materialiseShared(
            basis,
            taskCore(world.tasks[t].id, world.tasks[t].adapter, basis, targets, "int4"),
            targets,
          );
          scoredRows[t] = {
            fewshot: await score(world, world.tasks[t].fewshot, adapter),
            test: await score(world, world.tasks[t].test, adapter),
          };
        }
      }
      const result = { fewshot: scoredRows.reduce((s, r) => s + r.fewshot.loss, 0) / n, rows: scoredRows };
      sharedScores.set(key, result);
      return result;
    };
    for (const b of budgets) {
      let best: BudgetRow | null = null;
      let bestLoss = Infinity;
      let passes = 0;
      for (const k of d2cByK.keys()) {
        const size = (rank: number) => k * basisBytes(targets, rank, "int4") + n * coreBytes(targets, rank, "int4");
        const rank = SHARED_RANKS.filter((r) => size(r) <= b.bytes).at(-1);
        if (rank === undefined) continue;
        const s = await sharedOf(k, rank);
        // d2c's run at this K, and every task under its core once.
        passes += d2cByK.get(k)!.passes + fewshotBatches;
        if (s.fewshot >= bestLoss) continue;
        bestLoss = s.fewshot;
        best = {
          budgetFraction: b.fraction,
          budgetBytes: b.bytes,
          method: "shared",
          seed,
          k,
          meanExactMatch: exactMatch(s.rows),
          bytes: size(rank),
          forwardPasses: 0,
          parts: { [`basis ${rank}/int4`]: k, [`core ${rank}/int4`]: n },
        };
      }
      rows.push(
        best
          ? { ...best, forwardPasses: passes }
          : {
              budgetFraction: b.fraction,
              budgetBytes: b.bytes,
              method: "shared",
              seed,
              meanExactMatch: baseExactMatch,
              bytes: 0,
              forwardPasses: 0,
              parts: {},
            },
      );
      log(
        `seed ${seed} ${(100 * b.fraction).toFixed(1)}% shared: held-out ` +
          `${(best?.meanExactMatch ?? baseExactMatch).toFixed(1)}%`,
      );
    }
  }
  const seconds = (performance.now() - started) / 1000;
  const command =
    `npm run experiment -- --budgets${options.fixtures === "r2-fixtures" ? "" : ` --fixtures ${options.fixtures}`}` +
    `${options.seeds.join(",") === "0,1,2" ? "" : ` --seeds ${options.seeds.join(",")}`}`;
  const report = {
    command,
    fixtures: options.fixtures,
    ownBytes,
    mergedBytes,
    baseExactMatch,
    seconds,
    seeds: options.seeds,
    rows,
  };
  writeFileSync(join(options.out, "budgets.json"), `${JSON.stringify(report, null, 2)}\n`);
  writeFileSync(join(options.out, "budgets.md"), budgetsMarkdown(report));
  writeFileSync(join(options.out, "budgets.svg"), budgetsSvg(report));
  log(`wrote ${join(options.out, "budgets.{json,md,svg}")}`);
}

export interface BudgetsReport {
  readonly command: string;
  readonly fixtures: string;
  readonly ownBytes: number;
  readonly mergedBytes: number;
  readonly baseExactMatch: number;
  readonly seconds: number;
  readonly seeds: readonly number[];
  readonly rows: readonly BudgetRow[];
}
