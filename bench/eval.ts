/**
 * `npm run bench:eval`: few-shot evaluation speed in workerd (onnxruntime-web, wasm, one
 * thread) against the same runtime's MatMul ceiling and onnxruntime-node (one thread, native), for
 * the model as shipped and its int8 and int4 weight variants (tools/fixtures/quantize_int{8,4}.py);
 * then the evaluator service against the in-Worker path on the same units (bench/evaluatorService.ts).
 */
import { readFileSync } from "node:fs";
import * as ortNode from "onnxruntime-node";
import { unstable_startWorker } from "wrangler";
import { evaluatorServiceFigures } from "./evaluatorService.ts";
import { forwardFlops, type DecoderShape } from "./flops.ts";

const here = (path: string) => new URL(path, import.meta.url).pathname;
/** The variants the Worker serves (model=...), as files for onnxruntime-node. */
const MODELS = {
  fp32: here("../r2-fixtures/models/d2c-char-lm/model.onnx"),
  int8: here("./model-int8.onnx"),
  int4: here("./model-int4.onnx"),
};
const model = JSON.parse(readFileSync(here("../r2-fixtures/models/d2c-char-lm/model.json"), "utf8"));
const shape: DecoderShape = model.config;
const BATCH = 10;
const SEQ: number = model.maxSequence;
const N = 512;

const mean = (times: number[]) => times.reduce((a, b) => a + b, 0) / times.length;
const gflops = (flops: number, ms: number) => flops / ms / 1e6;

async function nodeFigures() {
  const options = { intraOpNumThreads: 1, interOpNumThreads: 1, executionMode: "sequential" as const };
  const ids = new BigInt64Array(BATCH * SEQ).map((_, i) => BigInt(4 + (i % 30)));
  const feeds: Record<string, ortNode.Tensor> = {
    input_ids: new ortNode.Tensor("int64", ids, [BATCH, SEQ]),
    attention_mask: new ortNode.Tensor("int64", new BigInt64Array(BATCH * SEQ).fill(1n), [BATCH, SEQ]),
  };
  for (const t of model.loraTargets) {
    feeds[`${t.module}.lora_A`] = new ortNode.Tensor("float32", new Float32Array(t.in), [1, t.in]);
    feeds[`${t.module}.lora_B`] = new ortNode.Tensor("float32", new Float32Array(t.out), [t.out, 1]);
  }
  const time = async (run: () => Promise<unknown>, runs = 30) => {
    await run();
    const times: number[] = [];
    for (let i = 0; i < runs; i++) {
      const t0 = performance.now();
      await run();
      times.push(performance.now() - t0);
    }
    return mean(times);
  };
  const forwardMs = {} as Record<keyof typeof MODELS, number>;
  for (const [variant, path] of Object.entries(MODELS) as [keyof typeof MODELS, string][]) {
    const session = await ortNode.InferenceSession.create(path, options);
    forwardMs[variant] = await time(() => session.run(feeds));
  }
  const matmul = await ortNode.InferenceSession.create(here("./matmul.onnx"), options);
  const a = new ortNode.Tensor("float32", new Float32Array(N * N).fill(0.5), [N, N]);
  const matmulMs = await time(() => matmul.run({ A: a, B: a }));
  return { forwardMs, matmulMs };
}

const worker = await unstable_startWorker({ config: here("./wrangler.toml"), dev: { logLevel: "error" } as never });
try {
  const get = async <T>(path: string): Promise<T> => {
    const body = (await (await worker.fetch(`http://bench${path}`)).json()) as T | { error: string };
    if (typeof body === "object" && body !== null && "error" in body) throw new Error(body.error);
    return body as T;
  };
  const forward = await get<{ none: number; rank8: number }>(`/forward?batch=${BATCH}&sequence=${SEQ}&runs=50`);
  const matmul = await get<{ ms: number }>(`/matmul?n=${N}&runs=50`);
  type Fewshot = { sets: number; examples: number; scoredTokens: number; loss: number; ms: number };
  const fewshot = await get<Fewshot>("/fewshot?runs=20");
  const joint = await get<Fewshot>("/fewshot?runs=20&joint=1");
  /** A quantized variant's figures, or why the Worker could not load it (printed, not thrown). */
  const quantized = async (variant: keyof typeof MODELS) => {
    try {
      return {
        forward: await get<{ none: number }>(`/forward?batch=${BATCH}&sequence=${SEQ}&runs=50&model=${variant}`),
        fewshot: await get<Fewshot>(`/fewshot?runs=20&model=${variant}`),
      };
    } catch (error) {
      return { error: error instanceof Error ? error.message : String(error) };
    }
  };
  const int8 = await quantized("int8");
  const int4 = await quantized("int4");
  const native = await nodeFigures();

  const flops = forwardFlops(shape, BATCH, SEQ);
  const ceiling = gflops(2 * N ** 3, matmul.ms);
  const wasm = gflops(flops, forward.none);
  const fewshotMs = fewshot.ms;
  console.log(
    `model: ${shape.n_layers} layers, d=${shape.d_model}; forward of ${BATCH} x ${SEQ} tokens = ` +
      `${(flops / 1e9).toFixed(3)} GFLOP`,
  );
  console.log(
    `workerd  forward ${BATCH}x${SEQ}: mean ${forward.none.toFixed(1)} ms (rank-8 adapter ` +
      `${forward.rank8.toFixed(1)} ms), ${wasm.toFixed(1)} GFLOP/s`,
  );
  console.log(
    `workerd  MatMul ${N}^3: mean ${matmul.ms.toFixed(2)} ms, ${ceiling.toFixed(1)} GFLOP/s (the wasm ` +
      `ceiling); forward attains ${((100 * wasm) / ceiling).toFixed(0)}% of it`,
  );
  console.log(
    `workerd  few-shot evaluation: ${fewshot.sets} tasks x 10 examples in ${fewshotMs.toFixed(1)} ms = ` +
      `${((fewshot.examples / fewshotMs) * 1000).toFixed(0)} examples/s, ` +
      `${((fewshot.scoredTokens / fewshotMs) * 1000).toFixed(0)} scored tokens/s`,
  );
  const jointMs = joint.ms;
  console.log(
    `workerd  the same ${joint.examples} examples batched across tasks (runs of up to 32 rows): ` +
      `${jointMs.toFixed(1)} ms = ` +
      `${((joint.examples / jointMs) * 1000).toFixed(0)} examples/s (${(fewshotMs / jointMs).toFixed(2)}x)`,
  );
  const quantizedLine = (label: string, q: Awaited<ReturnType<typeof quantized>>) =>
    "error" in q
      ? `workerd  ${label}: failed to load in onnxruntime-web: ${q.error}`
      : `workerd  ${label}: forward ${q.forward.none.toFixed(1)} ms ` +
        `(${(forward.none / q.forward.none).toFixed(2)}x), ` +
        `few-shot ${q.fewshot.ms.toFixed(1)} ms (${(fewshotMs / q.fewshot.ms).toFixed(2)}x); base-model ` +
        `few-shot loss ${q.fewshot.loss.toFixed(4)} vs fp32 ${fewshot.loss.toFixed(4)}`;
  console.log(quantizedLine("int8 weights (dynamic quantization)", int8));
  console.log(quantizedLine("int4 weights (MatMulNBits, blocks of 32, asymmetric)", int4));
  const nativeMs = native.forwardMs;
  console.log(
    `native   forward ${BATCH}x${SEQ} (onnxruntime-node, 1 thread): mean ${nativeMs.fp32.toFixed(1)} ms, ` +
      `${gflops(flops, nativeMs.fp32).toFixed(1)} GFLOP/s; ` +
      `int8 ${nativeMs.int8.toFixed(1)} ms (${(nativeMs.fp32 / nativeMs.int8).toFixed(2)}x), int4 ` +
      `${nativeMs.int4.toFixed(1)} ms (${(nativeMs.fp32 / nativeMs.int4).toFixed(2)}x)`,
  );
  console.log(
    `native   MatMul ${N}^3: mean ${native.matmulMs.toFixed(1)} ms, ` +
      `${gflops(2 * N ** 3, native.matmulMs).toFixed(1)} GFLOP/s`,
  );
} finally {
  await worker.dispose();
}

await evaluatorServiceFigures();
