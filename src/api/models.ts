import { Hono } from "hono";
import type { ModelContract } from "../inference/contract";
import { forgetModel } from "../inference/model";
import { createSession } from "../inference/ort";
import { catalogue } from "../storage/catalogue";
import { modelKey } from "../storage/keys";
import { requireAdmin } from "./auth";
import { ApiError } from "./errors";
import { sha256Hex } from "../storage/sha256";
import { multipartFiles, parseJsonField } from "./upload";
import { checkedId } from "./validate";

const LIMITS = { "model.onnx": 50 << 20, "model.json": 1 << 20, "tokenizer.json": 10 << 20, "tokenizer_config.json": 1 << 20 };

export const models = new Hono<{ Bindings: Env }>();

models.use("*", requireAdmin);

models.get("/:modelId", async (c) => {
  const contract = await catalogue(c.env).model(c.req.param("modelId"));
  if (!contract) throw new ApiError(404, "unknown_model", `no model ${c.req.param("modelId")}`);
  return c.json(contract);
});

models.put("/:modelId", async (c) => {
  const modelId = checkedId("model", c.req.param("modelId"));
  const files = await multipartFiles(c.req.raw, LIMITS);
  const contract = checkContract(modelId, parseJsonField("model.json", files["model.json"]));
  const sha256 = await sha256Hex(files["model.onnx"]);
  if (sha256 !== contract.onnx.sha256) {
    throw new ApiError(400, "sha256_mismatch", `model.onnx has sha256 ${sha256}, model.json says ${contract.onnx.sha256}`);
  }
  await checkGraph(contract, files["model.onnx"]);
  parseJsonField("tokenizer.json", files["tokenizer.json"]);
  parseJsonField("tokenizer_config.json", files["tokenizer_config.json"]);
  await Promise.all([
    c.env.BUCKET.put(modelKey(modelId, contract.onnx.file), files["model.onnx"]),
    c.env.BUCKET.put(modelKey(modelId, contract.tokenizer), files["tokenizer.json"]),
    c.env.BUCKET.put(modelKey(modelId, "tokenizer_config.json"), files["tokenizer_config.json"]),
  ]);
  // model.json last: a reader that finds it finds everything it names.
  await c.env.BUCKET.put(modelKey(modelId, "model.json"), files["model.json"]);
  forgetModel(modelId);
  const catalogueVersion = await catalogue(c.env).registerModel(contract);
  return c.json({ modelId, sha256, catalogueVersion }, 201);
});

function checkContract(modelId: string, json: unknown): ModelContract {
  const m = json as Partial<ModelContract>;
  const fail = (what: string) => {
    throw new ApiError(400, "bad_model_json", `model.json: ${what}`);
  };
  if (typeof m !== "object" || m === null) fail("not an object");
  if (m.contractVersion !== 1) fail(`contractVersion ${JSON.stringify(m.contractVersion)}, expected 1`);
  if (m.modelId !== modelId) fail(`modelId ${JSON.stringify(m.modelId)} differs from the URL's ${modelId}`);
  if (!Number.isInteger(m.maxSequence) || m.maxSequence! < 2) fail("maxSequence must be an integer >= 2");
  if (!Number.isInteger(m.vocabSize) || m.vocabSize! < 2) fail("vocabSize must be an integer >= 2");
  const t = m.tokens;
  if (!t || ![t.bos, t.eos, t.pad].every((x) => Number.isInteger(x) && x >= 0 && x < m.vocabSize!)) {
    fail("tokens must give bos, eos and pad ids within the vocabulary");
  }
  if (!Array.isArray(m.loraTargets) || m.loraTargets.length === 0) fail("loraTargets must list at least one target");
  for (const target of m.loraTargets!) {
    if (typeof target.module !== "string" || !Number.isInteger(target.in) || !Number.isInteger(target.out)) {
      fail("each lora target needs module (string), in and out (integers)");
    }
  }
  // The files arrive as fixed multipart fields, so the contract must name them the same way.
  if (m.onnx?.file !== "model.onnx" || !/^[0-9a-f]{64}$/.test(m.onnx.sha256 ?? "")) fail('onnx must be { file: "model.onnx", sha256: <hex> }');
  if (m.tokenizer !== "tokenizer.json") fail('tokenizer must be "tokenizer.json"');
  return m as ModelContract;
}

/** The ONNX graph must load and take every input the contract promises. */
async function checkGraph(contract: ModelContract, onnx: Uint8Array): Promise<void> {
  let session;
  try {
    session = await createSession(onnx);
  } catch {
    throw new ApiError(400, "bad_onnx", "model.onnx does not load in onnxruntime");
  }
  try {
    const expected = ["input_ids", "attention_mask", ...contract.loraTargets.flatMap((t) => [`${t.module}.lora_A`, `${t.module}.lora_B`])];
    const missing = expected.filter((name) => !session.inputNames.includes(name));
    if (missing.length) throw new ApiError(400, "bad_onnx", `model.onnx lacks inputs ${missing.slice(0, 3).join(", ")}${missing.length > 3 ? ", ..." : ""}`);
    if (!session.outputNames.includes("logits")) throw new ApiError(400, "bad_onnx", "model.onnx has no output named logits");
  } finally {
    await session.release();
  }
}
