/**
 * How much isolate memory a base model needs on the Worker path (onnxruntime-web, wasm, one thread),
 * from its ONNX file size; registration refuses the Worker path above WORKER_MEMORY_LIMIT.
 *
 * Measured with `npm run bench:size` (bench/model-size.ts; synthetic models of the reference
 * architecture, tools/fixtures/synthetic.py; workerd, onnxruntime-web 1.30; MiB = 2^20 bytes):
 *
 * | params | variant | onnx MiB | wasm MiB after load | = 16 + k x onnx, k |
 * |---|---|---|---|---|
 * |   5.3 M | fp32 |   20.3 |   74.6 | 2.89 |
 * |  21.0 M | fp32 |   80.4 |  268.9 | 3.15 |
 * |  49.2 M | fp32 |  188.0 |  589.4 | 3.05 |
 * | 105.0 M | fp32 |  400.6 | 1093.4 | 2.69 |
 * | 295.1 M | fp32 | 1125.9 | 3036.9 | 2.68 |
 * |   5.3 M | int8 |    5.3 |   27.8 | 2.23 |
 * |  21.0 M | int8 |   20.4 |   62.4 | 2.27 |
 * |  49.2 M | int8 |   47.4 |  118.3 | 2.16 |
 * | 105.0 M | int8 |  100.5 |  228.6 | 2.11 |
 * | 295.1 M | int8 |  282.1 |  602.1 | 2.08 |
 *
 * The runtime alone holds 16 MiB of wasm memory (its initial size); one forward of 10 x 64 tokens
 * never grew it further (room freed during the load holds the activations). Loading copies the
 * model's bytes into the wasm heap and builds the session's weight tensors from them, and wasm
 * memory never shrinks: hence k of about 3 for fp32, about 2.2 for int8 (why lower: not examined).
 */

export const WORKER_MEMORY_LIMIT = 128 * 2 ** 20;

const MiB = 2 ** 20;
/** Initial wasm memory of onnxruntime-web (256 pages), measured: the runtime with no model. */
const RUNTIME_WASM_BYTES = 16 * MiB;
/** The Worker's own JS heap (router, zod, ORT glue, tokenizer): an allowance, not measured here. */
const JS_HEAP_ALLOWANCE = 8 * MiB;
/** Wasm growth per byte of ONNX file: the largest k measured above, so the estimate errs high. */
const WASM_PER_ONNX_BYTE = { fp32: 3.2, int8: 2.3 } as const;
/** The file's own bytes: read from R2 into an ArrayBuffer, alive while the session is created. */
const JS_COPY_PER_ONNX_BYTE = 1;

/**
 * Estimated peak isolate memory (bytes) of serving a model whose model.onnx is `onnxBytes` long:
 * fp32 24 MiB + 4.2 x bytes, int8 24 MiB + 3.3 x bytes. Within 128 MiB: an fp32 file up to about
 * 24.7 MiB (about 6.5 M parameters; the 2.8 MB reference model needs about 35 MiB), an int8 file
 * up to about 31.5 MiB (about 33 M parameters). `quantized`: weight MatMuls are int8 (quantize_int8.py).
 */
export function estimatedWorkerMemory(onnxBytes: number, quantized: boolean): number {
  const perByte = (quantized ? WASM_PER_ONNX_BYTE.int8 : WASM_PER_ONNX_BYTE.fp32) + JS_COPY_PER_ONNX_BYTE;
  return Math.ceil(RUNTIME_WASM_BYTES + JS_HEAP_ALLOWANCE + perByte * onnxBytes);
}
