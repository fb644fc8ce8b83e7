/**
 * The scale world (issue 12): N synthetic tasks derived from the 40 trained ones, written in the
 * r2-fixtures layout so `npm run seed -- --dir DIR`, `npx d2c-edge push DIR` and
 * `npm run experiment -- --fixtures DIR` take it. Generated on demand, never committed; the same
 * seed gives the same bytes. The derivation and its limits are in the README it writes.
 *
 *   npm run world -- --n 1000 --seed 0 --out DIR [--from r2-fixtures] [--test 100]
 *                    [--mix-max 0.3] [--noise 0.1] [--noise-rank 2]
 */
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { text } from "../cli/command.ts";
import { CliError, runScript, UsageError, type Script } from "./commandLine.ts";
import { parsePeftConfig, peftToFactors } from "../src/adapters/peft.ts";
import { toPeft } from "../src/adapters/merge/peftExport.ts";
import type { ModelContract } from "../src/inference/contract.ts";
import { seededRandom } from "../src/prng.ts";
import { worldReadme } from "./worldReadme.ts";
import { deltaNorm } from "../src/adapters/factors.ts";
import { deriveTask, taskSeed, type DerivationOptions, type SourceTask } from "./worldTask.ts";

export interface WorldOptions extends Omit<DerivationOptions, "rank" | "fewshot"> {
  readonly n: number;
  /** An integer in [0, 2^32). */
  readonly seed: number;
  readonly out: string;
  /** The reference world the tasks derive from. */
  readonly from: string;
}

export const WORLD_DEFAULTS = { from: "r2-fixtures", test: 100, mixMax: 0.3, noise: 0.1, noiseRank: 2 } as const;
/** What `push` and `seed` upload of a model: not plain/, which only graph surgery reads. */
const MODEL_FILES = ["model.onnx", "model.json", "tokenizer.json", "tokenizer_config.json"];
const FEWSHOT = 10;
const RANK = 8;

interface CatalogueEntry {
  id: string;
  modelId: string;
  application: string;
  language: string;
}

export interface WorldTaskRecord {
  id: string;
  source: string;
  sibling: string;
  siblingKind: string;
  mix: number;
}

/** Writes the world under `options.out` (which must be new or empty) and returns what it made. */
export function generateWorld(options: WorldOptions): { tasks: WorldTaskRecord[] } {
  const { n, seed, out, from } = options;
  if (!Number.isInteger(n) || n < 1 || n > 99_999) throw new RangeError(`--n must be an integer in 1..99999, got ${n}`);
  if (!Number.isInteger(seed) || seed < 0 || seed >= 2 ** 32)
    throw new RangeError(`--seed must be an integer in [0, 2^32), got ${seed}`);
  if (!(options.mixMax >= 0 && options.mixMax <= 1))
    throw new RangeError(`--mix-max must be in [0, 1], got ${options.mixMax}`);
  if (!(options.noise >= 0 && Number.isFinite(options.noise)))
    throw new RangeError(`--noise must be a finite number >= 0, got ${options.noise}`);
  if (!Number.isInteger(options.noiseRank) || options.noiseRank < 1)
    throw new RangeError(`--noise-rank must be a positive integer, got ${options.noiseRank}`);
  if (!Number.isInteger(options.test) || options.test < 1)
    throw new RangeError(`--test must be a positive integer, got ${options.test}`);
  if (!existsSync(join(from, "catalogue.json"))) throw new CliError(`${from} has no catalogue.json: give a world`);
  // A leftover adapters/<task>/ from a larger world would be pushed along with this one.
  if (existsSync(out) && readdirSync(out).length > 0)
    throw new CliError(`${out} is not empty: give a new or empty directory`);

  const catalogue = (JSON.parse(readFileSync(join(from, "catalogue.json"), "utf8")) as { tasks: CatalogueEntry[] })
    .tasks;
  const modelId = catalogue[0].modelId;
  if (catalogue.some((t) => t.modelId !== modelId))
    throw new CliError(`${from}: tasks of more than one model; the scale world derives from one`);
  const modelDir = join(from, "models", modelId);
  const targets = (JSON.parse(readFileSync(join(modelDir, "model.json"), "utf8")) as ModelContract).loraTargets;
  const sources = catalogue.map((t): SourceTask => {
    const adapter = peftToFactors(
      parsePeftConfig(JSON.parse(readFileSync(join(from, "adapters", t.id, "adapter_config.json"), "utf8"))),
      new Uint8Array(readFileSync(join(from, "adapters", t.id, "adapter_model.safetensors"))),
      targets,
    );
    const lines = ["fewshot", "test"].flatMap((split) =>
      readFileSync(join(from, "examples", t.id, `${split}.jsonl`), "utf8").split("\n"),
    );
    return {
      id: t.id,
      application: t.application,
      language: t.language,
      adapter,
      deltaNorms: new Map([...adapter].map(([module, f]) => [module, deltaNorm(f)])),
      pool: [...new Set(lines.filter((line) => line.trim() !== ""))],
    };
  });

  const smallest = sources.reduce((min, s) => (s.pool.length < min.pool.length ? s : min));
  if (smallest.pool.length < FEWSHOT + options.test) {
    throw new RangeError(
      `--test ${options.test}: ${smallest.id} has ${smallest.pool.length} distinct examples, ${FEWSHOT} ` +
        `few-shot + ${options.test} held-out needed; examples are never repeated`,
    );
  }

  mkdirSync(join(out, "models", modelId), { recursive: true });
  for (const file of MODEL_FILES) copyFileSync(join(modelDir, file), join(out, "models", modelId, file));
  const width = Math.max(4, String(n - 1).length);
  const derivation: DerivationOptions = {
    mixMax: options.mixMax,
    noise: options.noise,
    noiseRank: options.noiseRank,
    rank: RANK,
    fewshot: FEWSHOT,
    test: options.test,
  };
  const records: WorldTaskRecord[] = [];
  const entries: CatalogueEntry[] = [];
  for (let i = 0; i < n; i++) {
    const source = sources[i % sources.length];
    const id = `${source.id}-${String(i).padStart(width, "0")}`;
    const task = deriveTask(source, sources, targets, derivation, seededRandom(taskSeed(seed, i)));
    const peft = toPeft(task.adapter, targets, modelId, "fp16");
    mkdirSync(join(out, "adapters", id), { recursive: true });
    writeFileSync(join(out, "adapters", id, "adapter_config.json"), `${JSON.stringify(peft.config, null, 2)}\n`);
    writeFileSync(join(out, "adapters", id, "adapter_model.safetensors"), peft.safetensors);
    mkdirSync(join(out, "examples", id), { recursive: true });
    writeFileSync(join(out, "examples", id, "fewshot.jsonl"), `${task.fewshot.join("\n")}\n`);
    writeFileSync(join(out, "examples", id, "test.jsonl"), `${task.test.join("\n")}\n`);
    entries.push({ application: source.application, id, language: source.language, modelId });
    records.push({
      id,
      source: source.id,
      sibling: task.sibling,
      siblingKind: task.siblingKind,
      mix: Number(task.mix.toFixed(6)),
    });
  }
  writeFileSync(join(out, "catalogue.json"), `${JSON.stringify({ tasks: entries }, null, 2)}\n`);
  const settings = {
    n,
    seed,
    from,
    test: options.test,
    mixMax: options.mixMax,
    noise: options.noise,
    noiseRank: options.noiseRank,
  };
  writeFileSync(
    join(out, "world.json"),
    `${JSON.stringify({ ...settings, fewshot: FEWSHOT, rank: RANK, tasks: records }, null, 2)}\n`,
  );
  writeFileSync(
    join(out, "README.md"),
    worldReadme({ ...settings, modelId, sources: sources.length, poolSizes: sources.map((s) => s.pool.length) }),
  );
  return { tasks: records };
}

export const WORLD: Script = {
  name: "npm run world",
  usage: `-- --n N --out DIR [--seed S] [--from DIR] [--test N] [--mix-max W] [--noise F] [--noise-rank R]

Writes N synthetic tasks derived from the trained ones, in the r2-fixtures layout (for npm run seed
-- --dir DIR, npx d2c-edge push DIR, npm run experiment -- --fixtures DIR). The same seed gives the
same bytes; DIR/README.md says how they were made.

Options:
  --n N            tasks to write, 1-99999 (required)
  --out DIR        a new or empty directory (required)
  --seed S         an integer in [0, 2^32) (default 0)
  --from DIR       the trained world they derive from (default ${WORLD_DEFAULTS.from})
  --test N         held-out examples per task (default ${WORLD_DEFAULTS.test})
  --mix-max W      a sibling's weight is uniform in [0, W] (default ${WORLD_DEFAULTS.mixMax})
  --noise F        the random perturbation's size, a fraction of the source's (default ${WORLD_DEFAULTS.noise})
  --noise-rank R   the perturbation's rank (default ${WORLD_DEFAULTS.noiseRank})`,
  options: {
    n: { type: "string" },
    seed: { type: "string" },
    out: { type: "string" },
    from: { type: "string" },
    test: { type: "string" },
    "mix-max": { type: "string" },
    noise: { type: "string" },
    "noise-rank": { type: "string" },
  },
};

if (import.meta.main) {
  await runScript(WORLD, ({ values }) => {
    const [n, out] = [text(values, "n"), text(values, "out")];
    if (!n || !out) throw new UsageError("--n and --out are required");
    const from = text(values, "from") ?? WORLD_DEFAULTS.from;
    const number = (name: string, fallback: number) => Number(text(values, name) ?? fallback);
    const started = performance.now();
    let tasks: WorldTaskRecord[];
    try {
      ({ tasks } = generateWorld({
        n: Number(n),
        seed: number("seed", 0),
        out,
        from,
        test: number("test", WORLD_DEFAULTS.test),
        mixMax: number("mix-max", WORLD_DEFAULTS.mixMax),
        noise: number("noise", WORLD_DEFAULTS.noise),
        noiseRank: number("noise-rank", WORLD_DEFAULTS.noiseRank),
      }));
    } catch (e) {
      // generateWorld's RangeErrors name the option that is out of range.
      if (e instanceof RangeError) throw new UsageError(e.message);
      throw e;
    }
    console.log(`wrote ${tasks.length} tasks to ${out} in ${((performance.now() - started) / 1000).toFixed(1)} s`);
    return 0;
  });
}
