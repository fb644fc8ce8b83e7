/** A model.json sent with a registration, and the registration's options (aliases, evaluator, maxSequence). */
import type { ModelContract } from "../inference/contract";
import type { Registration } from "../models/contract";
import { quoted } from "../errors";
import { ApiError } from "./errors";

const fail = (what: string): never => {
  throw new ApiError(400, "bad_model_json", `model.json: ${what}`);
};

/**
 * Checks a given model.json against the uploaded model.onnx (`sha256`). With `targets` "graph"
 * (a plain model: the surgery finds the targets), loraTargets may be absent and is not checked.
 */
export function checkContract(
  modelId: string,
  json: unknown,
  sha256: string,
  targets: "given" | "graph" = "given",
  files: "sent" | "pushed" = "sent",
): ModelContract {
  const m = json as Partial<ModelContract>;
  if (typeof m !== "object" || m === null) fail("not an object");
  if (m.contractVersion !== 1) fail(`contractVersion ${quoted(m.contractVersion)}, expected 1`);
  if (m.modelId !== modelId) fail(`modelId ${quoted(m.modelId)} differs from the URL's ${modelId}`);
  if (!Number.isInteger(m.maxSequence) || m.maxSequence! < 2) fail("maxSequence must be an integer >= 2");
  if (!Number.isInteger(m.vocabSize) || m.vocabSize! < 2) fail("vocabSize must be an integer >= 2");
  const t = m.tokens;
  if (!t || ![t.bos, t.eos, t.pad].every((x) => Number.isInteger(x) && x >= 0 && x < m.vocabSize!)) {
    fail("tokens must give bos, eos and pad ids within the vocabulary");
  }
  if (targets === "given") {
    if (!Array.isArray(m.loraTargets) || m.loraTargets.length === 0) fail("loraTargets must list at least one target");
    for (const target of m.loraTargets!) {
      if (typeof target.module !== "string" || !Number.isInteger(target.in) || !Number.isInteger(target.out)) {
        fail("each lora target needs module (string), in and out (integers)");
      }
    }
  }
  // Sent files arrive as fixed multipart fields; pushed ones live under their digest (modelUploads.ts).
  const file = files === "sent" ? "model.onnx" : `${m.onnx?.sha256}/model.onnx`;
  if (m.onnx?.file !== file || !/^[0-9a-f]{64}$/.test(m.onnx.sha256 ?? ""))
    fail(`onnx must be { file: "${files === "sent" ? "model.onnx" : "<sha256>/model.onnx"}", sha256: <hex> }`);
  const external = m.onnx!.externalData ?? [];
  if (
    !Array.isArray(external) ||
    !external.every(
      (e) =>
        typeof e?.file === "string" &&
        /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/.test(e.file) &&
        /^[0-9a-f]{64}$/.test(e.sha256 ?? ""),
    )
  ) {
    fail("onnx.externalData must list { file, sha256 } with plain file names");
  }
  if (files === "sent" && external.length) fail("a model with external data goes up with `npx d2c-edge model push`");
  if (m.onnx!.sha256 !== sha256)
    throw new ApiError(400, "sha256_mismatch", `model.onnx has sha256 ${sha256}, model.json says ${m.onnx!.sha256}`);
  if (m.tokenizer !== "tokenizer.json") fail('tokenizer must be "tokenizer.json"');
  return m as ModelContract;
}

const ALIAS = /^[A-Za-z0-9][A-Za-z0-9._/-]{0,199}$/;
const MAX_ALIASES = 16;

/** Query parameters (`aliases=a,b`, `evaluator`, `maxSequence`) win over the same fields of a given model.json. */
export function registrationOf(modelId: string, query: Record<string, string>, given: unknown): Registration {
  const g = (given ?? {}) as Partial<ModelContract> & { maxSequence?: unknown };
  const aliases = query.aliases !== undefined ? query.aliases.split(",").filter(Boolean) : (g.aliases ?? []);
  if (
    !Array.isArray(aliases) ||
    aliases.length > MAX_ALIASES ||
    !aliases.every((a) => typeof a === "string" && ALIAS.test(a))
  ) {
    throw new ApiError(400, "bad_alias", `aliases: at most ${MAX_ALIASES} hub names matching ${ALIAS}`);
  }
  // Hub names are case-insensitive: `Org/Model` and `org/model` are one name (src/models/names.ts).
  const twice = aliases.find((a, i) => aliases.findIndex((b) => b.toLowerCase() === a.toLowerCase()) !== i);
  if (twice)
    throw new ApiError(400, "bad_alias", `aliases: ${twice} is listed twice (hub names compare case-insensitively)`);
  const evaluator = query.evaluator ?? g.evaluator;
  if (evaluator !== undefined && evaluator !== "wasm" && evaluator !== "remote")
    throw new ApiError(400, "bad_evaluator", 'evaluator must be "wasm" or "remote"');
  const maxSequence = query.maxSequence !== undefined ? Number(query.maxSequence) : g.maxSequence;
  if (
    maxSequence !== undefined &&
    (!Number.isInteger(maxSequence) || (maxSequence as number) < 2 || (maxSequence as number) > 1 << 20)
  ) {
    throw new ApiError(400, "bad_max_sequence", "maxSequence must be an integer in 2..1048576");
  }
  return {
    modelId,
    aliases,
    ...(evaluator ? { evaluator } : {}),
    ...(maxSequence !== undefined ? { maxSequence: maxSequence as number } : {}),
  };
}
