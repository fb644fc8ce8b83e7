/**
 * Base models. `PUT /v1/models/:modelId` takes a model in either form:
 * - a plain decoder ONNX as torch/optimum export it: d2c-edge adds the LoRA inputs (graph
 *   surgery, src/models/surgery.ts) and derives model.json unless one is given;
 * - an ONNX that already has the contract's LoRA inputs, with its model.json.
 * A model the Worker's isolate cannot hold is refused for the in-Worker path (422) unless it is
 * registered for the evaluator service (`evaluator=remote`). Models above the Worker's request
 * limit go up through the CLI (`npx d2c-edge model push`), which does the surgery on its side.
 */
import { Hono } from "hono";
import type { ModelContract } from "../inference/contract";
import { forgetModel } from "../inference/model";
import { createSession } from "../inference/ort";
import type { NameTaken } from "../models/names";
import { deriveContract, type Registration } from "../models/contract";
import { checkGraph } from "../models/graphCheck";
import { isVerified, pushedFile } from "../models/pushedFiles";
import { addLoraInputs, loraInputsOf } from "../models/surgery";
import { estimatedWorkerMemory, WORKER_MEMORY_LIMIT } from "../models/workerMemory";
import { catalogue } from "../storage/catalogue";
import { modelKey } from "../storage/keys";
import { sha256Hex } from "../storage/sha256";
import { requireAdmin } from "./auth";
import { ApiError } from "./errors";
import { checkContract, registrationOf } from "./modelContract";
import { multipartFiles, parseJsonField } from "./upload";
import { checkedId } from "./validate";

const LIMITS = {
  "model.onnx": 50 << 20,
  "model.json": 1 << 20,
  "tokenizer.json": 10 << 20,
  "tokenizer_config.json": 1 << 20,
};

export const models = new Hono<{ Bindings: Env }>();

models.use("*", requireAdmin);

models.get("/", async (c) => c.json({ models: await catalogue(c.env).models() }));

models.get("/:modelId", async (c) => {
  const contract = await catalogue(c.env).model(c.req.param("modelId"));
  if (!contract) throw new ApiError(404, "unknown_model", `no model ${c.req.param("modelId")}`);
  return c.json(contract);
});

models.put("/:modelId", async (c) => {
  const modelId = checkedId("model", c.req.param("modelId"));
  const files = await multipartFiles(c.req.raw, LIMITS, ["model.json", "model.onnx"]);
  const given = files["model.json"] && parseJsonField("model.json", files["model.json"]);
  const registration = registrationOf(modelId, c.req.query(), given);
  const tokenizer = parseJsonField("tokenizer.json", files["tokenizer.json"]) as Record<string, unknown>;
  const tokenizerConfig = parseJsonField("tokenizer_config.json", files["tokenizer_config.json"]) as Record<
    string,
    unknown
  >;
  const sent = files["model.onnx"];
  let onnx: Uint8Array | null = sent ?? null;
  let contract: ModelContract;
  if (!sent) {
    // Pushed beforehand in parts (modelUploads.ts): model.json names the verified files.
    if (!given)
      throw new ApiError(
        400,
        "missing_field",
        "multipart field model.onnx is missing (or send model.json naming files pushed with `d2c-edge model push`)",
      );
    contract = { ...(await checkPushed(c.env.BUCKET, modelId, given)), ...registrationFields(registration) };
  } else if (loraInputsOf(sent).length === 0) {
    const targets = c.req.query("targets")?.split(",").filter(Boolean);
    const surgery = addLoraInputs(sent, {
      ...(targets ? { targets } : {}),
      ...(registration.maxSequence ? { maxSequence: registration.maxSequence } : {}),
    });
    onnx = surgery.onnx;
    const stored = { file: "model.onnx", sha256: await sha256Hex(surgery.onnx) };
    contract = given
      ? {
          ...checkContract(modelId, given, await sha256Hex(sent), "graph"),
          onnx: stored,
          loraTargets: surgery.targets,
          ...registrationFields(registration),
        }
      : deriveContract(registration, surgery, stored, tokenizer, tokenizerConfig);
  } else {
    if (!given)
      throw new ApiError(
        400,
        "missing_field",
        "model.onnx already has LoRA inputs: send its model.json too (a plain export needs none)",
      );
    contract = { ...checkContract(modelId, given, await sha256Hex(sent)), ...registrationFields(registration) };
  }
  await checkNames(c.env, contract);
  // The same graph checks whichever runtime loads it; the Worker's onnxruntime-web then loads it too.
  checkInputs(
    contract,
    await checkGraph(onnx ?? (await pushedGraph(c.env.BUCKET, contract)), await externalSizes(c.env.BUCKET, contract)),
  );
  if (contract.evaluator !== "remote") await checkWorkerPath(onnx ?? (await pushedBytes(c.env.BUCKET, contract)));
  await Promise.all([
    sent ? c.env.BUCKET.put(modelKey(modelId, contract.onnx.file), onnx ?? sent) : null,
    c.env.BUCKET.put(modelKey(modelId, contract.tokenizer), files["tokenizer.json"]),
    c.env.BUCKET.put(modelKey(modelId, "tokenizer_config.json"), files["tokenizer_config.json"]),
  ]);
  // model.json last: a reader that finds it finds everything it names.
  await c.env.BUCKET.put(modelKey(modelId, "model.json"), JSON.stringify(contract, null, 2));
  forgetModel(modelId);
  const registered = await catalogue(c.env).registerModel(contract);
  // Another registration took a name since checkNames (the catalogue checks again, atomically).
  if ("taken" in registered) throw nameTaken(modelId, registered.taken);
  return c.json(
    {
      modelId,
      sha256: contract.onnx.sha256,
      loraTargets: contract.loraTargets.length,
      aliases: contract.aliases ?? [],
      evaluator: contract.evaluator ?? "wasm",
      catalogueVersion: registered.catalogueVersion,
    },
    201,
  );
});

/** A model.json for pushed files: each must be a completed, verified upload under its own digest. */
async function checkPushed(bucket: R2Bucket, modelId: string, given: unknown): Promise<ModelContract> {
  const onnx = (given as Partial<ModelContract>)?.onnx;
  const sha256 = onnx?.sha256 ?? "";
  const contract = checkContract(modelId, given, sha256, "given", "pushed");
  for (const file of [{ file: "model.onnx", sha256 }, ...(contract.onnx.externalData ?? [])]) {
    const path = pushedFile(file.sha256, file.file);
    if (!(await isVerified(bucket, modelId, path))) {
      throw new ApiError(
        409,
        "not_pushed",
        `${path} is not a completed upload of model ${modelId}: push it first (npx d2c-edge model push)`,
      );
    }
  }
  return contract;
}

/** A pushed model.onnx as a stream: the graph checks read it whatever its size. */
async function pushedGraph(bucket: R2Bucket, contract: ModelContract): Promise<ReadableStream<Uint8Array>> {
  const object = await bucket.get(modelKey(contract.modelId, contract.onnx.file));
  if (!object) throw new ApiError(409, "not_pushed", `${contract.onnx.file} is not in R2`);
  return object.body;
}

/** Each pushed external data file's name and size: the only files the graph may store tensors in. */
async function externalSizes(bucket: R2Bucket, contract: ModelContract): Promise<Map<string, number>> {
  const sizes = new Map<string, number>();
  for (const f of contract.onnx.externalData ?? []) {
    const head = await bucket.head(modelKey(contract.modelId, pushedFile(f.sha256, f.file)));
    if (!head) throw new ApiError(409, "not_pushed", `${f.file} is not in R2`);
    sizes.set(f.file, head.size);
  }
  return sizes;
}

/** A pushed model's bytes, read back for the Worker-path check once its size says it may fit. */
async function pushedBytes(bucket: R2Bucket, contract: ModelContract): Promise<Uint8Array> {
  const head = await bucket.head(modelKey(contract.modelId, contract.onnx.file));
  if (!head) throw new ApiError(409, "not_pushed", `${contract.onnx.file} is not in R2`);
  if (contract.onnx.externalData?.length)
    throw tooLarge(
      head.size,
      "its weights are in external data files, which the Worker's onnxruntime-web does not read",
    );
  checkWorkerMemory(head.size);
  return new Uint8Array(await (await bucket.get(modelKey(contract.modelId, contract.onnx.file)))!.arrayBuffer());
}

const tooLarge = (bytes: number, why: string) =>
  new ApiError(
    422,
    "too_large_for_worker",
    `model.onnx (${bytes} bytes): ${why}: register it for the evaluator service (evaluator=remote)`,
  );

function checkWorkerMemory(bytes: number): void {
  const estimate = estimatedWorkerMemory(bytes, false);
  if (estimate > WORKER_MEMORY_LIMIT) {
    throw tooLarge(
      bytes,
      `needs about ${Math.round(estimate / 2 ** 20)} MiB in a Worker, whose limit is ` +
        `${WORKER_MEMORY_LIMIT / 2 ** 20} MiB`,
    );
  }
}

const registrationFields = (r: Registration) => ({
  ...(r.aliases?.length ? { aliases: [...r.aliases] } : {}),
  ...(r.evaluator ? { evaluator: r.evaluator } : {}),
});

/**
 * 409 naming the model that already answers to a name of this registration (ids are lowercase: only an
 * alias can hold one).
 */
const nameTaken = (modelId: string, t: NameTaken) =>
  new ApiError(
    409,
    "alias_taken",
    t.name === modelId
      ? `model id ${modelId} is already an alias of model ${t.owner}: adapters citing ${modelId} resolve there`
      : `alias ${t.name} already names model ${t.owner} (hub names compare case-insensitively)`,
  );

/** A name (id or alias, case-insensitive, as hub names are) belongs to one model: another model's is a conflict. */
async function checkNames(env: Env, contract: ModelContract): Promise<void> {
  const taken = await catalogue(env).nameTaken(contract.modelId, contract.aliases ?? []);
  if (taken) throw nameTaken(contract.modelId, taken);
}

/** The graph takes every input the contract promises (the LoRA factors of each target) and gives logits. */
function checkInputs(contract: ModelContract, graph: { inputs: readonly string[]; outputs: readonly string[] }): void {
  const expected = [
    "input_ids",
    "attention_mask",
    ...contract.loraTargets.flatMap((t) => [`${t.module}.lora_A`, `${t.module}.lora_B`]),
  ];
  const missing = expected.filter((name) => !graph.inputs.includes(name));
  if (missing.length)
    throw new ApiError(
      400,
      "bad_onnx",
      `model.onnx lacks inputs ${missing.slice(0, 3).join(", ")}${missing.length > 3 ? ", ..." : ""}`,
    );
  if (!graph.outputs.includes("logits")) throw new ApiError(400, "bad_onnx", "model.onnx has no output named logits");
}

/** The in-Worker path: the model must fit an isolate, then load in onnxruntime-web. */
async function checkWorkerPath(onnx: Uint8Array): Promise<void> {
  checkWorkerMemory(onnx.byteLength);
  let session;
  try {
    session = await createSession(onnx);
  } catch {
    throw new ApiError(400, "bad_onnx", "model.onnx does not load in onnxruntime");
  }
  await session.release();
}
