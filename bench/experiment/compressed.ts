/**
 * `npm run experiment -- --compressed` (issue 21): the simplest competitor to merging, every
 * task's own adapter compressed on its own, and the allocator that spends the bytes by measured
 * quality. For each rank 1..8 and dtype (int4, int8, fp16), each task's update is truncated by
 * SVD and stored as a private part (src/adapters/parts, the modules the Worker and the client
 * use), written to its file, read back and materialised; every task is scored under each on its
 * few-shot and its held-out examples, and under the base model (no part, 0 bytes). Per storage
 * budget (bytes of the 40 files against the 40 own adapters at fp16):
 *   - `own-compressed`: one configuration for every task, the one with the lowest mean few-shot
 *     loss among those that fit (no held-out example read);
 *   - `alloc`: per task its own configuration or none, the least summed few-shot loss that fits
 *     (src/budget/allocate.ts).
 * Held-out exact match is reported, never used to choose. Writes docs/compressed.{json,md}.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { decodePart, encodePart } from "../../src/adapters/parts/partFile.ts";
import { materialise, privatePart, privatePartBytes } from "../../src/adapters/parts/privatePart.ts";
import { PART_DTYPES, type PartDtype } from "../../src/adapters/parts/quantize.ts";
import type { AdapterFactors } from "../../src/adapters/factors.ts";
import { allocate } from "../../src/budget/allocate.ts";
import type { Batch } from "../../src/inference/batch.ts";
import { forward } from "../../src/inference/forward.ts";
import { scoreBatch } from "../../src/inference/loss.ts";
import { loadWorld, type World } from "./world.ts";

/** Storage budgets as fractions of the 40 own adapters at fp16 (issue 21's acceptance list). */
export const BUDGETS = [0.025, 0.05, 0.075, 0.125, 0.25, 0.5];
const RANKS = [1, 2, 3, 4, 5, 6, 7, 8];

/** A part configuration; rank 0 is no part (the base model). */
interface Config {
  readonly rank: number;
  readonly dtype: PartDtype | "none";
}

/** One task under one configuration. */
interface Measured {
  readonly bytes: number;
  readonly fewshotLoss: number;
  /** Held-out examples exactly right, and examples. */
  readonly exact: number;
  readonly examples: number;
}

export interface UniformRow {
  readonly method: "own-compressed";
  readonly rank: number;
  readonly dtype: PartDtype;
  /** The 40 part files' bytes, headers included: what a device stores. */
  readonly bytes: number;
  readonly storageFraction: number;
  /** Held-out, in %. */
  readonly meanExactMatch: number;
  readonly meanFewshotLoss: number;
}

export interface BudgetRow {
  readonly budgetFraction: number;
  readonly budgetBytes: number;
  readonly method: "own-compressed" | "alloc";
  readonly meanExactMatch: number | null;
  readonly bytes: number;
  /** Few-shot forward passes the choice read (the held-out ones only report it). */
  readonly forwardPasses: number;
  /** Per configuration, how many tasks got it ("3/int4": 12). */
  readonly parts: Readonly<Record<string, number>>;
}

export interface CompressedOptions {
  readonly fixtures: string;
  readonly threads: number;
  readonly out: string;
}

/** Mean NLL, examples exactly right, and examples of `batches` under `adapter` (null: the base model). */
export async function score(
  world: World,
  batches: readonly Batch[],
  adapter: AdapterFactors | null,
): Promise<{ loss: number; exact: number; n: number }> {
  let loss = 0;
  let exact = 0;
  let n = 0;
  for (const batch of batches) {
    for (const s of scoreBatch(batch, await forward(world.model, batch, adapter), world.model.contract.vocabSize)) {
      loss += s.nll;
      exact += s.exact ? 1 : 0;
      n++;
    }
  }
  return { loss: loss / n, exact, n };
}

const configName = (c: Config) => (c.rank === 0 ? "none" : `${c.rank}/${c.dtype}`);

export async function runCompressed(options: CompressedOptions): Promise<void> {
  const started = performance.now();
  const world = await loadWorld(options.fixtures, options.threads);
  const targets = world.model.contract.loraTargets;
  const ownBytes = world.tasks.reduce(
    (sum, t) => sum + privatePartBytes(targets, t.adapter.get(targets[0].module)!.rank, "fp16"),
    0,
  );
  const configs: Config[] = [
    { rank: 0, dtype: "none" },
    ...[...PART_DTYPES].reverse().flatMap((dtype) => RANKS.map((rank) => ({ rank, dtype }))),
  ];
  // measured[c][t]: task t under configuration c.
  const measured: Measured[][] = [];
  let fewshotPasses = 0;
  for (const config of configs) {
    const row: Measured[] = [];
    for (const task of world.tasks) {
      let adapter: AdapterFactors | null = null;
      let bytes = 0;
      if (config.dtype !== "none") {
        const file = encodePart(privatePart(task.id, task.adapter, targets, config.rank, config.dtype), targets);
        bytes = file.byteLength;
        // What a device runs: the adapter materialised from the file's bytes, not from the part in memory.
        adapter = materialise(decodePart(file, targets), targets);
      }
      const fewshot = await score(world, task.fewshot, adapter);
      const test = await score(world, task.test, adapter);
      fewshotPasses += task.fewshot.length;
      row.push({ bytes, fewshotLoss: fewshot.loss, exact: test.exact, examples: test.n });
    }
    measured.push(row);
    const sum = (f: (m: Measured) => number) => row.reduce((n, m) => n + f(m), 0);
    console.log(
      `${configName(config)}: ${((100 * sum((m) => m.bytes)) / ownBytes).toFixed(1)}% storage, exact match ` +
        `${((100 * sum((m) => m.exact)) / sum((m) => m.examples)).toFixed(1)}%, few-shot loss ` +
        `${(sum((m) => m.fewshotLoss) / row.length).toFixed(4)}`,
    );
  }
  const exactMatch = (chosen: readonly Measured[]) =>
    (100 * chosen.reduce((n, m) => n + m.exact, 0)) / chosen.reduce((n, m) => n + m.examples, 0);
  const uniform: UniformRow[] = configs.slice(1).map((config, i) => {
    const row = measured[i + 1];
    const bytes = row.reduce((n, m) => n + m.bytes, 0);
    return {
      method: "own-compressed",
      rank: config.rank,
      dtype: config.dtype as PartDtype,
      bytes,
      storageFraction: bytes / ownBytes,
      meanExactMatch: exactMatch(row),
      meanFewshotLoss: row.reduce((n, m) => n + m.fewshotLoss, 0) / row.length,
    };
  });
  const budgets: BudgetRow[] = BUDGETS.flatMap((fraction): BudgetRow[] => {
    const budgetBytes = Math.floor(fraction * ownBytes);
    const fits = uniform.filter((r) => r.bytes <= budgetBytes);
    const pick = fits.length ? fits.reduce((best, r) => (r.meanFewshotLoss < best.meanFewshotLoss ? r : best)) : null;
    const pickIndex = pick ? uniform.indexOf(pick) + 1 : 0;
    const allocation = allocate(
      world.tasks.map((_, t) =>
        configs.map((_, c) => ({ bytes: measured[c][t].bytes, loss: measured[c][t].fewshotLoss })),
      ),
      budgetBytes,
    )!;
    const parts: Record<string, number> = {};
    for (const c of allocation.choices) parts[configName(configs[c])] = (parts[configName(configs[c])] ?? 0) + 1;
    const passes = (n: number) => n * world.tasks.reduce((sum, t) => sum + t.fewshot.length, 0);
    return [
      {
        budgetFraction: fraction,
        budgetBytes,
        method: "own-compressed",
        bytes: pick?.bytes ?? 0,
        meanExactMatch: pick ? pick.meanExactMatch : exactMatch(measured[0]),
        forwardPasses: passes(pick ? uniform.length : 0),
        parts: { [configName(configs[pickIndex])]: world.tasks.length },
      },
      {
        budgetFraction: fraction,
        budgetBytes,
        method: "alloc",
        bytes: allocation.bytes,
        meanExactMatch: exactMatch(allocation.choices.map((c, t) => measured[c][t])),
        forwardPasses: passes(configs.length),
        parts,
      },
    ];
  });
  const seconds = (performance.now() - started) / 1000;
  const command =
    `npm run experiment -- ` +
    `--compressed${options.fixtures === "r2-fixtures" ? "" : ` --fixtures ${options.fixtures}`}`;
  writeFileSync(
    join(options.out, "compressed.json"),
    `${JSON.stringify(
      { command, fixtures: options.fixtures, ownBytes, seconds, fewshotPasses, uniform, budgets },
      null,
      2,
    )}\n`,
  );
  writeFileSync(join(options.out, "compressed.md"), markdown(uniform, budgets, ownBytes, seconds, command));
  console.log(`wrote ${join(options.out, "compressed.{json,md}")} in ${seconds.toFixed(0)} s`);
}

function markdown(
  uniform: readonly UniformRow[],
  budgets: readonly BudgetRow[],
  ownBytes: number,
  seconds: number,
  command: string,
): string {
  const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
  const parts = (p: Readonly<Record<string, number>>) =>
    Object.entries(p)
      .sort((a, b) => b[1] - a[1])
      .map(([c, n]) => `${c} x${n}`)
      .join(", ");
  return [
    "# Spending the bytes: own adapters compressed, and allocated by few-shot loss",
    "",
    `\`${command}\` (${seconds.toFixed(0)} s). Each task's own adapter truncated by SVD to rank r and ` +
      `stored at a dtype`,
    "(int8/int4: symmetric, blocks of 32 values, fp16 scales) as a private part file " +
      "(`src/adapters/parts`), read back and",
    "materialised as a device would; held-out exact match over the 40 tasks. Storage: the 40 files' bytes " +
      "(headers included)",
    `against the 40 own adapters at fp16 (${ownBytes} bytes). Choices read few-shot losses only.`,
    "",
    "## Per budget",
    "",
    "`own-compressed`: one rank and dtype for every task (the lowest mean few-shot loss that fits); " +
      "`alloc`: each task its own",
    "rank and dtype or none, the least summed few-shot loss that fits (`src/budget/allocate.ts`). Parts: " +
      "rank/dtype x tasks.",
    "",
    "| budget | method | held-out exact match | bytes | parts |",
    "|---|---|---|---|---|",
    ...budgets.map(
      (r) =>
        `| ${pct(r.budgetFraction)} (${r.budgetBytes}) | ${r.method} | ` +
        `${r.meanExactMatch === null ? "-" : r.meanExactMatch.toFixed(1)} | ${r.bytes} | ${parts(r.parts)} |`,
    ),
    "",
    "## Every uniform configuration",
    "",
    "| rank | dtype | storage | held-out exact match | few-shot loss |",
    "|---|---|---|---|---|",
    ...uniform.map(
      (r) =>
        `| ${r.rank} | ${r.dtype} | ${pct(r.storageFraction)} | ${r.meanExactMatch.toFixed(1)} | ` +
        `${r.meanFewshotLoss.toFixed(4)} |`,
    ),
    "",
  ].join("\n");
}
