/**
 * The benchmark Worker (workerd, onnxruntime-web wasm, one thread). The model and a few tasks'
 * few-shot examples are bundled, so the figures are inference alone.
 *   /forward?batch&sequence&runs   mean ms of a full batch, no adapter and rank 8
 *   /matmul?n&runs                 mean ms of one n x n x n MatMul: the runtime's GEMM ceiling
 *   /fewshot?runs                  evaluation of real few-shot sets: examples and tokens per run
 * /forward and /fewshot take model=fp32|int8|int4; a variant that fails to load answers { error }.
 */
import onnx from "../r2-fixtures/models/d2c-char-lm/model.onnx";
import contractJson from "../r2-fixtures/models/d2c-char-lm/model.json";
import tokenizerJson from "../r2-fixtures/models/d2c-char-lm/tokenizer.json";
import tokenizerConfig from "../r2-fixtures/models/d2c-char-lm/tokenizer_config.json";
import gecDe from "../r2-fixtures/examples/gec-de/fewshot.jsonl";
import qaEn from "../r2-fixtures/examples/qa-en/fewshot.jsonl";
import replyJa from "../r2-fixtures/examples/reply-ja/fewshot.jsonl";
import toneKo from "../r2-fixtures/examples/tone-ko/fewshot.jsonl";
import matmulOnnx from "./matmul.onnx";
import int4Onnx from "./model-int4.onnx";
import int8Onnx from "./model-int8.onnx";
import { Tokenizer } from "@huggingface/tokenizers";
import type { AdapterFactors, LoraFactors } from "../src/adapters/factors";
import type { Batch } from "../src/inference/batch";
import type { ModelContract } from "../src/inference/contract";
import { parseExamples } from "../src/storage/examples";
import { evaluate } from "../src/inference/evaluate";
import { forward, type LoadedModel } from "../src/inference/forward";
import { createSession, ort } from "../src/inference/ort";

const contract = contractJson as unknown as ModelContract;
const models = new Map<string, Promise<LoadedModel>>();
let matmul: Promise<ort.InferenceSession> | undefined;

const variants: Record<string, ArrayBuffer> = { fp32: onnx, int8: int8Onnx, int4: int4Onnx };

/**
 * "fp32": the model as shipped; "int8": its weight MatMuls quantized (tools/fixtures/quantize_int8.py);
 * "int4": the same MatMuls as com.microsoft MatMulNBits, 4-bit blocks (tools/fixtures/quantize_int4.py).
 */
function loadModel(variant: string): Promise<LoadedModel> {
  let model = models.get(variant);
  if (!model) {
    const bytes = new Uint8Array(variants[variant]);
    model = createSession(bytes).then((session) => ({
      contract,
      session,
      Tensor: ort.Tensor,
      tokenizer: new Tokenizer(tokenizerJson, tokenizerConfig),
    }));
    models.set(variant, model);
  }
  return model;
}

function fullBatch(size: number, width: number): Batch {
  const ids = new BigInt64Array(size * width);
  for (let i = 0; i < ids.length; i++) ids[i] = BigInt(4 + (i % 30));
  return {
    size,
    width,
    inputIds: ids,
    attentionMask: new BigInt64Array(size * width).fill(1n),
    scored: [],
    targets: new Int32Array(size * width),
  };
}

function rank8(): AdapterFactors {
  const factors = new Map<string, LoraFactors>();
  for (const t of contract.loraTargets) {
    factors.set(t.module, {
      rank: 8,
      a: new Float32Array(8 * t.in).fill(0.01),
      b: new Float32Array(t.out * 8).fill(0.01),
    });
  }
  return factors;
}

/** Mean ms per run over one window: workerd's clock ticks in whole milliseconds. */
async function timed(runs: number, once: () => Promise<unknown>): Promise<number> {
  await once(); // warm-up
  const t0 = performance.now();
  for (let i = 0; i < runs; i++) await once();
  return (performance.now() - t0) / runs;
}

export default {
  async fetch(request: Request): Promise<Response> {
    const url = new URL(request.url);
    const q = (name: string, fallback: number) => Number(url.searchParams.get(name) ?? fallback);
    const runs = q("runs", 20);
    if (url.pathname === "/matmul") {
      const n = q("n", 512);
      const session = await (matmul ??= createSession(new Uint8Array(matmulOnnx)));
      const a = new ort.Tensor("float32", new Float32Array(n * n).fill(0.5), [n, n]);
      const b = new ort.Tensor("float32", new Float32Array(n * n).fill(0.25), [n, n]);
      return Response.json({ n, ms: await timed(runs, () => session.run({ A: a, B: b })) });
    }
    const variant = url.searchParams.get("model") ?? "fp32";
    if (!Object.hasOwn(variants, variant)) return Response.json({ error: `unknown model ${variant}` }, { status: 400 });
    let loaded: LoadedModel;
    try {
      loaded = await loadModel(variant);
    } catch (error) {
      // A variant the runtime cannot load (an operator its build lacks) is a finding, not a crash.
      return Response.json(
        { error: `${variant}: ${error instanceof Error ? error.message : String(error)}` },
        { status: 500 },
      );
    }
    if (url.pathname === "/fewshot") {
      const sets = [gecDe, qaEn, replyJa, toneKo].map(parseExamples);
      // One run per task, or every task's examples in shared runs (as for one merged adapter).
      const joint = url.searchParams.get("joint") === "1";
      let tokens = 0;
      let loss = 0;
      const ms = await timed(runs, async () => {
        tokens = 0;
        loss = 0;
        for (const examples of joint ? [sets.flat()] : sets) {
          const result = await evaluate(loaded, examples, null);
          tokens += result.tokens;
          loss += result.loss / sets.length;
        }
      });
      return Response.json({
        sets: sets.length,
        examples: sets.reduce((n, s) => n + s.length, 0),
        scoredTokens: tokens,
        loss,
        ms,
      });
    }
    const batch = fullBatch(q("batch", 10), q("sequence", contract.maxSequence));
    return Response.json({
      none: await timed(runs, () => forward(loaded, batch, null)),
      rank8: await timed(runs, () => forward(loaded, batch, rank8())),
    });
  },
};
