import { Hono } from "hono";
import { parsePeftConfig, peftToFactors } from "../adapters/peft";
import { parseExamples } from "../storage/examples";
import { tokenize } from "../inference/forward";
import { loadTokenizer } from "../inference/model";
import { catalogue } from "../storage/catalogue";
import { adapterKey, examplesKey, type Split } from "../storage/keys";
import { requireAdmin } from "./auth";
import { quoted } from "../errors";
import { ApiError } from "./errors";
import { sha256Hex } from "../storage/sha256";
import { limitedBody } from "./body";
import { multipartFiles, parseJsonField } from "./upload";
import { checkedId } from "./validate";

const ADAPTER_LIMITS = { "adapter_config.json": 64 << 10, "adapter_model.safetensors": 64 << 20 };
const EXAMPLES_LIMIT = 4 << 20;
/** Few-shot sets are meant to be small: D2C evaluates every one of them each iteration. */
const MAX_EXAMPLES: Record<Split, number> = { fewshot: 64, test: 10_000 };

export const tasks = new Hono<{ Bindings: Env }>();

// The catalogue is the operators' view: every route needs the admin token.
tasks.use("*", requireAdmin);

tasks.get("/", async (c) => c.json(await catalogue(c.env).list()));

tasks.get("/:taskId", async (c) => {
  const task = await catalogue(c.env).task(c.req.param("taskId"));
  if (!task) throw new ApiError(404, "unknown_task", `no task ${c.req.param("taskId")}`);
  return c.json(task);
});

tasks.delete("/:taskId", async (c) => {
  const taskId = c.req.param("taskId");
  const catalogueVersion = await catalogue(c.env).deleteTask(taskId);
  if (catalogueVersion === null) throw new ApiError(404, "unknown_task", `no task ${taskId}`);
  // The catalogue forgot the task first, so nothing refers to these blobs any more.
  await c.env.BUCKET.delete([
    adapterKey(taskId, "adapter_config.json"),
    adapterKey(taskId, "adapter_model.safetensors"),
    examplesKey(taskId, "fewshot"),
    examplesKey(taskId, "test"),
  ]);
  return c.json({ deleted: taskId, catalogueVersion });
});

tasks.put("/:taskId/adapter", async (c) => {
  const taskId = checkedId("task", c.req.param("taskId"));
  const files = await multipartFiles(c.req.raw, ADAPTER_LIMITS);
  const configJson = parseJsonField("adapter_config.json", files["adapter_config.json"]) as Record<string, unknown>;
  const baseModel = String(configJson?.base_model_name_or_path ?? "");
  const contract = await catalogue(c.env).resolveModel(baseModel);
  if (!contract) {
    throw new ApiError(
      422,
      "unknown_model",
      `adapter_config.json: base_model_name_or_path ${quoted(baseModel)} is neither a registered model nor one's alias`,
    );
  }
  const modelId = contract.modelId;
  // The factors as the model will use them (scaled) are checked; an AdapterError renders as 400/422.
  const config = parsePeftConfig(configJson);
  peftToFactors(config, files["adapter_model.safetensors"], contract.loraTargets);
  const adapterSha256 = await sha256Hex(files["adapter_model.safetensors"]);
  const upload = {
    taskId,
    modelId,
    application: c.req.query("application"),
    language: c.req.query("language"),
    rank: config.r,
    bytes: files["adapter_model.safetensors"].byteLength,
    adapterSha256,
    configSha256: await sha256Hex(files["adapter_config.json"]),
  };
  // An identical re-upload (a re-run push) writes nothing: no blob, no catalogue version, no re-clustering.
  const held = await catalogue(c.env).unchangedAdapter(upload);
  if (held !== null) return c.json({ taskId, adapterSha256, catalogueVersion: held, unchanged: true }, 200);
  await c.env.BUCKET.put(adapterKey(taskId, "adapter_model.safetensors"), files["adapter_model.safetensors"], {
    sha256: adapterSha256,
  });
  await c.env.BUCKET.put(adapterKey(taskId, "adapter_config.json"), files["adapter_config.json"]);
  const { catalogueVersion, unchanged } = await catalogue(c.env).putAdapter(upload);
  return c.json({ taskId, adapterSha256, catalogueVersion, unchanged }, unchanged ? 200 : 201);
});

tasks.put("/:taskId/examples", limitedBody(EXAMPLES_LIMIT, "the examples"), async (c) => {
  const taskId = checkedId("task", c.req.param("taskId"));
  const split = c.req.query("split");
  if (split !== "fewshot" && split !== "test")
    throw new ApiError(400, "bad_split", 'query parameter split must be "fewshot" or "test"');
  const task = await catalogue(c.env).task(taskId);
  if (!task) throw new ApiError(404, "unknown_task", `no task ${taskId}: upload its adapter first`);
  const body = new Uint8Array(await c.req.arrayBuffer());
  let examples;
  try {
    examples = parseExamples(new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(body));
  } catch (e) {
    throw new ApiError(400, "bad_jsonl", e instanceof Error ? e.message : "examples are not UTF-8 JSONL");
  }
  if (examples.length === 0 || examples.length > MAX_EXAMPLES[split]) {
    throw new ApiError(400, "bad_count", `${split} needs 1 to ${MAX_EXAMPLES[split]} examples, got ${examples.length}`);
  }
  const model = await loadTokenizer(c.env.BUCKET, task.modelId);
  tokenize(model, examples).forEach((e, i) => {
    const length = e.prompt.length + e.completion.length + 2;
    if (e.completion.length === 0)
      throw new ApiError(400, "empty_completion", `line ${i + 1}: the completion is empty`);
    if (length > model.contract.maxSequence) {
      throw new ApiError(
        400,
        "too_long",
        `line ${i + 1}: ${length} tokens with <s> and </s>, the model's maximum is ${model.contract.maxSequence}`,
      );
    }
  });
  const sha256 = await sha256Hex(body);
  const answer = (catalogueVersion: number, unchanged: boolean) =>
    c.json({ taskId, split, examples: examples.length, catalogueVersion, unchanged }, unchanged ? 200 : 201);
  // The same examples as stored: nothing is written, the version stays (see the adapter route).
  if (task.examplesSha256[split] === sha256) return answer(await catalogue(c.env).version, true);
  await c.env.BUCKET.put(examplesKey(taskId, split), body);
  const write = await catalogue(c.env).putExamples(taskId, split, { count: examples.length, sha256 });
  if (write === null) throw new ApiError(404, "unknown_task", `task ${taskId} was deleted meanwhile`);
  return answer(write.catalogueVersion, write.unchanged);
});
