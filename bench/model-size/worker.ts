/**
 * `npm run bench:size`'s Worker (workerd, onnxruntime-web wasm, one thread). One request measures
 * one model in a fresh isolate:
 *   /runtime   starts the runtime with a one-MatMul model (a few KB of weights) -> { runtimeBytes }
 *   /measure?model=<url of model.onnx>&contract=<url of model.json>&batch&sequence&runs
 * -> { runtimeBytes, afterLoadBytes, afterForwardBytes, loadMs, firstForwardMs, forwardMs, onnxBytes }
 * Sizes are the WebAssembly.Memory's byteLength: onnxruntime-web creates that memory in JS and
 * passes it to the module as an import, so the spy below finds it in the imports of the one
 * `WebAssembly.instantiate` call that starts the runtime (src/inference/ort.ts makes that call).
 */
import matmulOnnx from "../matmul.onnx";
import type { ModelContract } from "../../src/inference/contract";
import { createSession, ort } from "../../src/inference/ort";

let memory: WebAssembly.Memory | undefined;

const instantiate = WebAssembly.instantiate;
WebAssembly.instantiate = ((source: unknown, imports?: WebAssembly.Imports) => {
  for (const namespace of Object.values(imports ?? {})) {
    for (const value of Object.values(namespace)) if (value instanceof WebAssembly.Memory) memory ??= value;
  }
  return (instantiate as (...args: unknown[]) => unknown).call(WebAssembly, source, imports);
}) as typeof WebAssembly.instantiate;

/** Bytes of wasm linear memory now (it only grows: a peak as much as a level). */
const wasmBytes = () => memory?.buffer.byteLength ?? 0;

/** ms of `once()`, over one window of `runs` calls: workerd's clock ticks in whole milliseconds. */
async function timed(runs: number, once: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  for (let i = 0; i < runs; i++) await once();
  return (performance.now() - t0) / runs;
}

/** The runtime alone, started by a one-MatMul model (a few KB of weights). */
async function startRuntime(): Promise<number> {
  await createSession(new Uint8Array(matmulOnnx));
  return wasmBytes();
}

async function measure(url: URL): Promise<Record<string, number>> {
  const q = (name: string, fallback: number) => Number(url.searchParams.get(name) ?? fallback);
  const [batch, sequence, runs] = [q("batch", 10), q("sequence", 64), q("runs", 3)];
  const contract = (await (await fetch(url.searchParams.get("contract")!)).json()) as ModelContract;

  const runtimeBytes = await startRuntime();

  const response = await fetch(url.searchParams.get("model")!);
  if (!response.ok) throw new Error(`model: ${response.status}`);
  let onnx: Uint8Array | undefined = new Uint8Array(await response.arrayBuffer());
  const onnxBytes = onnx.byteLength;
  let session: ort.InferenceSession | undefined;
  const loadMs = await timed(1, async () => (session = await createSession(onnx!)));
  onnx = undefined;
  const afterLoadBytes = wasmBytes();

  const ids = new BigInt64Array(batch * sequence);
  for (let i = 0; i < ids.length; i++) ids[i] = BigInt(4 + (i % 30));
  const feeds: Record<string, ort.Tensor> = {
    input_ids: new ort.Tensor("int64", ids, [batch, sequence]),
    attention_mask: new ort.Tensor("int64", new BigInt64Array(batch * sequence).fill(1n), [batch, sequence]),
  };
  for (const t of contract.loraTargets) {
    // "No adapter": zero factors of rank 1, as the evaluator sends them.
    feeds[`${t.module}.lora_A`] = new ort.Tensor("float32", new Float32Array(t.in), [1, t.in]);
    feeds[`${t.module}.lora_B`] = new ort.Tensor("float32", new Float32Array(t.out), [t.out, 1]);
  }
  let logits: ort.Tensor | undefined;
  const firstForwardMs = await timed(1, async () => ({ logits } = await session!.run(feeds)));
  const afterForwardBytes = wasmBytes();
  const expected = batch * sequence * contract.vocabSize;
  if (logits?.size !== expected) throw new Error(`logits: ${logits?.size} values, expected ${expected}`);
  const forwardMs = await timed(runs, () => session!.run(feeds));
  return {
    onnxBytes,
    runtimeBytes,
    afterLoadBytes,
    afterForwardBytes,
    loadMs,
    firstForwardMs,
    forwardMs,
    batch,
    sequence,
  };
}

export default {
  async fetch(request: Request): Promise<Response> {
    const url = new URL(request.url);
    try {
      if (url.pathname === "/runtime") return Response.json({ runtimeBytes: await startRuntime() });
      if (url.pathname === "/measure") return Response.json(await measure(url));
      return new Response("not found", { status: 404 });
    } catch (error) {
      // A model the isolate cannot load (out of wasm memory) is a finding: its size at failure too.
      return Response.json(
        { error: error instanceof Error ? error.message : String(error), wasmBytes: wasmBytes() },
        { status: 500 },
      );
    }
  },
} satisfies ExportedHandler;
