/**
 * What POST /v1/runs takes (the schema, with its defaults) and the default number of restarts: plain
 * data and zod, free of Workers types, so the CLI's `apply` checks a file's runs with the server's own rules.
 */
import { z } from "zod";
import { MAX_RANK } from "../adapters/peft";
import { PART_DTYPES, type PartDtype } from "../adapters/parts/quantize";
import { SHIPPED_DTYPES } from "../delivery/formats";
import { EVALUATORS, RUN_METHODS } from "./config";
import { MergeRequest } from "./mergeRequest";

/** Restarts of a D2C run at most (each is a whole D2C trajectory, cheap only thanks to the loss cache). */
const MAX_RESTARTS = 16;

/**
 * Restarts of a D2C run from a k-means start unless the request says: 4 up to 200 tasks, 1 above
 * (issue 21). The benefit, held-out exact match over seeds 0-2 at N = 40 (docs/results.md,
 * docs/tuning.md): +1.0 to +3.0 points at K = 3-20 on the reference world, and on a second world
 * (generator seed 2027) +4.6 at K = 5, where one start fell below K-means in a seed and 4 starts
 * never did. The cost: about 3.3x a single start's forward passes (K = 5: 650 -> 2,160-2,420),
 * cents at list prices, and the starts run one after another, so the run's time grows by as much.
 * At N = 1,000 one trajectory is already 28-35 thousand forward passes (docs/scale.md): four by
 * default would make every large run four times as slow for a gain never measured there.
 */
export function defaultRestarts(tasks: number): number {
  return tasks <= 200 ? 4 : 1;
}

export const RunRequest = z
  .object({
    /**
     * K directly, or a budget it is derived from, or a device profile's budget (exactly one; merge-all
     * means K = 1).
     */
    k: z.number().int().min(1).optional(),
    budget: z
      .object({
        maxAdapters: z.number().int().min(1).optional(),
        maxBytes: z.number().int().min(1).optional(),
        dtype: z.enum(SHIPPED_DTYPES).default("fp16"),
      })
      .strict()
      .refine((b) => b.maxAdapters !== undefined || b.maxBytes !== undefined, "give maxAdapters or maxBytes")
      .optional(),
    profile: z.string().min(1).optional(),
    /**
     * The base model whose tasks the run takes (by default); needed when the catalogue holds tasks of
     * several models.
     */
    modelId: z.string().min(1).optional(),
    method: z.enum(RUN_METHODS).default("d2c"),
    /** The merge of every cluster: a method of the registry and its parameters (src/runs/mergeRequest.ts). */
    merge: MergeRequest,
    seed: z
      .number()
      .int()
      .min(0)
      .max(2 ** 32 - 1)
      .default(0),
    maxIterations: z.number().int().min(1).max(50).default(10),
    /**
     * false: compute every merge and loss afresh instead of reading the cache of earlier runs (a
     * reference run, a cost measurement); the results are still recorded. Default true.
     */
    cache: z.boolean().default(true),
    /**
     * D2C only. true (default): pruned D2C, each task evaluated under its own cluster and its
     * most promising others, a full sweep before a fixed point is declared (src/clustering/pruned.ts);
     * false: every task under every cluster every iteration; an object sets pruning's knobs: `m`,
     * the other clusters each task is evaluated under (default 2), and `fullFirst`, whether the
     * first iteration is a full sweep (default: when clusters average 4 tasks or fewer).
     */
    prune: z
      .union([
        z.boolean(),
        z.object({ m: z.number().int().min(0).max(64).optional(), fullFirst: z.boolean().optional() }).strict(),
      ])
      .default(true),
    /**
     * D2C only, from a k-means start: run D2C from this many seeded starts (the first is `seed`),
     * sharing the loss cache, and keep one by `restartCriterion`. Default: `defaultRestarts`
     * (4 up to 200 tasks, else 1).
     */
    restarts: z.number().int().min(1).max(MAX_RESTARTS).optional(),
    /**
     * Which start's clustering a run with restarts keeps: "exactMatch" (default), the most few-shot
     * examples exactly right (J breaks ties), or "loss", the lowest few-shot J (docs/tuning.md: at
     * K = 3 lowest J kept clusterings 5.3 points worse on held-out examples).
     */
    restartCriterion: z.enum(["exactMatch", "loss"]).default("exactMatch"),
    /**
     * "alloc" only: the private-part configurations measured per task (default ranks 1-8 at int4
     * and int8: src/budget/candidates.ts); each costs one evaluation per task.
     */
    parts: z
      .object({
        configs: z
          .array(
            z
              .object({
                rank: z.number().int().min(1).max(MAX_RANK),
                dtype: z.enum(PART_DTYPES as [PartDtype, ...PartDtype[]]),
              })
              .strict(),
          )
          .min(1)
          .max(32),
      })
      .strict()
      .optional(),
    /** Task ids; default every task of the catalogue that has few-shot examples. */
    tasks: z.array(z.string().min(1)).min(1).optional(),
    /**
     * Who evaluates the units: "wasm" (the Worker's onnxruntime-web) or "remote" (the evaluator
     * service at EVALUATOR_URL). Default: the model's `evaluator`, else "wasm".
     */
    evaluator: z.enum(EVALUATORS).optional(),
  })
  .strict();

export type RunRequest = z.infer<typeof RunRequest>;
