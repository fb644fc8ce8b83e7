import { Hono } from "hono";
import { z } from "zod";
import { evaluate as evaluateExamples } from "../inference/evaluate";
import { loadModel } from "../inference/model";
import { readAdapter, readExamples, readMergedAdapter } from "../storage/adapters";
import { mergedKey } from "../storage/keys";
import { catalogue } from "../storage/catalogue";
import { requireAdmin } from "./auth";
import { ApiError } from "./errors";
import { jsonBody } from "./validate";
import { decodePart, encodePart } from "../adapters/parts/partFile";
import { materialise, privatePart } from "../adapters/parts/privatePart";
import { PART_DTYPES, type PartDtype } from "../adapters/parts/quantize";

export const EvaluateRequest = z
  .object({
    task: z.string().min(1),
    /** A task id (that task's own adapter), a merged adapter's sha256, or "none" (the base model). */
    adapter: z.string().min(1),
    split: z.enum(["fewshot", "test"]).default("fewshot"),
    /**
     * With a task id as `adapter`: its update truncated to `rank` and stored at `dtype` as a private
     * part (issue 21), evaluated as materialised from the part's file, as a device would run it.
     */
    part: z
      .object({ rank: z.number().int().min(1), dtype: z.enum(PART_DTYPES as [PartDtype, ...PartDtype[]]) })
      .strict()
      .optional(),
  })
  .strict();

const MERGED = /^[0-9a-f]{64}$/;

export const evaluate = new Hono<{ Bindings: Env }>();

// Evaluation spends CPU on the operator's behalf: admin only.
evaluate.use("*", requireAdmin);

evaluate.post("/", async (c) => {
  const request = await jsonBody(c.req.raw, EvaluateRequest);
  const cat = catalogue(c.env);
  const task = await cat.task(request.task);
  if (!task) throw new ApiError(404, "unknown_task", `no task ${request.task}`);
  const merged = MERGED.test(request.adapter);
  const source = request.adapter === "none" || merged ? null : await cat.task(request.adapter);
  if (merged && !(await c.env.BUCKET.head(mergedKey(request.adapter, "adapter_model.safetensors")))) {
    throw new ApiError(404, "unknown_adapter", `no merged adapter ${request.adapter}`);
  }
  if (request.adapter !== "none" && !merged && !source)
    throw new ApiError(
      404,
      "unknown_adapter",
      `no adapter ${request.adapter}: give a task id, a merged adapter's sha256 or "none"`,
    );
  if (source && source.modelId !== task.modelId) {
    throw new ApiError(
      422,
      "model_mismatch",
      `adapter ${source.id} is for model ${source.modelId}, task ${task.id} for ${task.modelId}`,
    );
  }
  const part = request.part;
  if (part && !source)
    throw new ApiError(
      400,
      "invalid_request",
      "part: give a task id as adapter (a part is a task's own adapter compressed)",
    );
  if (part && part.rank > source!.rank)
    throw new ApiError(
      400,
      "invalid_request",
      `part.rank: ${part.rank} is above adapter ${source!.id}'s rank ${source!.rank}`,
    );
  const examples = await readExamples(c.env.BUCKET, task.id, request.split);
  if (!examples) throw new ApiError(409, "no_examples", `task ${task.id} has no ${request.split} examples yet`);
  const model = await loadModel(c.env.BUCKET, task.modelId);
  const targets = model.contract.loraTargets;
  // A merged adapter of another model fails its shape checks against this model's targets.
  let adapter = merged
    ? await readMergedAdapter(c.env.BUCKET, request.adapter, targets)
    : source
      ? await readAdapter(c.env.BUCKET, source.id, targets)
      : null;
  let partBytes: number | undefined;
  if (part) {
    const file = encodePart(privatePart(source!.id, adapter!, targets, part.rank, part.dtype), targets);
    partBytes = file.byteLength;
    adapter = materialise(decodePart(file, targets), targets);
  }
  const result = {
    ...(await evaluateExamples(model, examples, adapter)),
    ...(partBytes === undefined ? {} : { partBytes }),
  };
  // JSON has no NaN: say so instead of answering {"loss": null}.
  if (!Number.isFinite(result.loss)) {
    throw new ApiError(
      422,
      "non_finite_loss",
      `task ${task.id} under adapter ${request.adapter}: the ${request.split} loss is ${result.loss}`,
    );
  }
  return c.json(request.split === "test" ? result : { ...result, exactMatch: undefined });
});
