/**
 * `npm run bench:eval`: few-shot evaluation speed in workerd (onnxruntime-web, wasm, one
 * thread) against the same runtime's MatMul ceiling and onnxruntime-node (one thread, native).
 */
import { readFileSync } from "node:fs";
import * as ortNode from "onnxruntime-node";
import { unstable_startWorker } from "wrangler";
import { forwardFlops, type DecoderShape } from "./flops.ts";

const here = (path: string) => new URL(path, import.meta.url).pathname;
const model = JSON.parse(readFileSync(here("../r2-fixtures/models/d2c-char-lm/model.json"), "utf8"));
const shape: DecoderShape = model.config;
const BATCH = 10;
const SEQ: number = model.maxSequence;
const N = 512;

const mean = (times: number[]) => times.reduce((a, b) => a + b, 0) / times.length;
const gflops = (flops: number, ms: number) => flops / ms / 1e6;

async function nodeFigures() {
  const options = { intraOpNumThreads: 1, interOpNumThreads: 1, executionMode: "sequential" as const };
  const session = await ortNode.InferenceSession.create(here("../r2-fixtures/models/d2c-char-lm/model.onnx"), options);
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
  const forwardMs = await time(() => session.run(feeds));
  const matmul = await ortNode.InferenceSession.create(here("./matmul.onnx"), options);
  const a = new ortNode.Tensor("float32", new Float32Array(N * N).fill(0.5), [N, N]);
  const matmulMs = await time(() => matmul.run({ A: a, B: a }));
  return { forwardMs, matmulMs };
}

const worker = await unstable_startWorker({ config: here("./wrangler.toml"), dev: { logLevel: "error" } as never });
try {
  const get = async <T>(path: string) => (await (await worker.fetch(`http://bench${path}`)).json()) as T;
  const forward = await get<{ none: number; rank8: number }>(`/forward?batch=${BATCH}&sequence=${SEQ}&runs=50`);
  const matmul = await get<{ ms: number }>(`/matmul?n=${N}&runs=50`);
  type Fewshot = { sets: number; examples: number; scoredTokens: number; loss: number; ms: number };
  const fewshot = await get<Fewshot>("/fewshot?runs=20");
  const joint = await get<Fewshot>("/fewshot?runs=20&joint=1");
  const int8 = await get<{ none: number }>(`/forward?batch=${BATCH}&sequence=${SEQ}&runs=50&model=int8`);
  const int8Fewshot = await get<Fewshot>("/fewshot?runs=20&model=int8");
  const native = await nodeFigures();

  const flops = forwardFlops(shape, BATCH, SEQ);
  const ceiling = gflops(2 * N ** 3, matmul.ms);
  const wasm = gflops(flops, forward.none);
  const fewshotMs = fewshot.ms;
  console.log(`model: ${shape.n_layers} layers, d=${shape.d_model}; forward of ${BATCH} x ${SEQ} tokens = ${(flops / 1e9).toFixed(3)} GFLOP`);
  console.log(`workerd  forward ${BATCH}x${SEQ}: mean ${forward.none.toFixed(1)} ms (rank-8 adapter ${forward.rank8.toFixed(1)} ms), ${wasm.toFixed(1)} GFLOP/s`);
  console.log(`workerd  MatMul ${N}^3: mean ${matmul.ms.toFixed(2)} ms, ${ceiling.toFixed(1)} GFLOP/s (the wasm ceiling); forward attains ${((100 * wasm) / ceiling).toFixed(0)}% of it`);
  console.log(
    `workerd  few-shot evaluation: ${fewshot.sets} tasks x 10 examples in ${fewshotMs.toFixed(1)} ms = ` +
      `${((fewshot.examples / fewshotMs) * 1000).toFixed(0)} examples/s, ${((fewshot.scoredTokens / fewshotMs) * 1000).toFixed(0)} scored tokens/s`,
  );
  const jointMs = joint.ms;
  console.log(
    `workerd  the same ${joint.examples} examples batched across tasks (runs of up to 32 rows): ${jointMs.toFixed(1)} ms = ` +
      `${((joint.examples / jointMs) * 1000).toFixed(0)} examples/s (${(fewshotMs / jointMs).toFixed(2)}x)`,
  );
  console.log(
    `workerd  int8 weights (dynamic quantization): forward ${int8.none.toFixed(1)} ms (${(forward.none / int8.none).toFixed(2)}x), ` +
      `few-shot ${int8Fewshot.ms.toFixed(1)} ms (${(fewshotMs / int8Fewshot.ms).toFixed(2)}x); base-model few-shot loss ${int8Fewshot.loss.toFixed(4)} vs fp32 ${fewshot.loss.toFixed(4)}`,
  );
  console.log(`native   forward ${BATCH}x${SEQ} (onnxruntime-node, 1 thread): mean ${native.forwardMs.toFixed(1)} ms, ${gflops(flops, native.forwardMs).toFixed(1)} GFLOP/s`);
  console.log(`native   MatMul ${N}^3: mean ${native.matmulMs.toFixed(1)} ms, ${gflops(2 * N ** 3, native.matmulMs).toFixed(1)} GFLOP/s`);
} finally {
  await worker.dispose();
}
