/**
 * The `merge` field of POST /v1/runs, built from the merge registry: the method's name, each
 * parameter a request may set with the registry's bounds, and merge tuning's knobs.
 */
import { z } from "zod";
import {
  DEFAULT_MERGE_METHOD,
  MERGE_METHODS,
  MERGE_PARAMETERS,
  MERGE_PARAMETER_NAMES,
  type MergeParameter,
  type MergeParameterName,
} from "../adapters/merge/registry";
import { DEFAULT_TUNE } from "./config";

/** A parameter's bounds as a zod number, so the API refuses exactly what the merge would. */
export function parameterSchema(p: MergeParameter): z.ZodNumber {
  const number = p.type === "integer" ? z.number().int() : z.number();
  const above = p.minExclusive ? number.gt(p.min) : number.min(p.min);
  return (p.maxExclusive ? above.lt(p.max) : above.max(p.max)).describe(p.description);
}

/** The parameters a request sets itself (a "run" parameter such as seed follows the run's field). */
type RequestParameter = {
  [K in MergeParameterName]: (typeof MERGE_PARAMETERS)[K]["source"] extends "request" ? K : never;
}[MergeParameterName];

const requestParameters = Object.fromEntries(
  MERGE_PARAMETER_NAMES.filter((name) => MERGE_PARAMETERS[name].source === "request").map((name) => [
    name,
    parameterSchema(MERGE_PARAMETERS[name]).optional(),
  ]),
) as Record<RequestParameter, z.ZodOptional<z.ZodNumber>>;

export const MergeRequest = z
  .object({
    method: z.enum(MERGE_METHODS),
    ...requestParameters,
    /**
     * After clustering, tune each cluster's merge on its tasks' few-shot loss (src/tuning/clusterTuner.ts):
     * the method screened among the run's and the pruning methods at `densities`, then the member
     * weights by CMA-ES (`budget` candidates per held-back fold), kept only if they win on held-back examples.
     */
    tune: z
      .object({
        budget: z.number().int().min(0).max(400).default(DEFAULT_TUNE.budget),
        folds: z.number().int().min(2).max(10).default(DEFAULT_TUNE.folds),
        penalty: z.number().min(0).max(10).default(DEFAULT_TUNE.penalty),
        sigma0: z.number().gt(0).max(4).default(DEFAULT_TUNE.sigma0),
        densities: z
          .array(parameterSchema(MERGE_PARAMETERS.density))
          .max(8)
          .default([...DEFAULT_TUNE.densities]),
        scales: z
          .array(z.number().gt(0).max(8))
          .min(1)
          .max(8)
          .default([...DEFAULT_TUNE.scales])
          .refine((scales) => scales.includes(1), "scales must include 1 (uniform weights)"),
        scaleCoordinate: z.boolean().default(DEFAULT_TUNE.scaleCoordinate),
      })
      .strict()
      .optional(),
  })
  .strict()
  .default({ method: DEFAULT_MERGE_METHOD });
