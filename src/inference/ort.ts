/**
 * onnxruntime-web (wasm, one thread) inside workerd.
 *
 * workerd refuses to compile WebAssembly from bytes at run time: only modules imported as
 * `.wasm` (wrangler's CompiledWasm rule) can be instantiated. onnxruntime-web 1.30 offers no
 * hook to pass a compiled module; when `env.wasm.wasmBinary` is set it uses the Emscripten glue
 * embedded in `ort.wasm.bundle.min.mjs` (no dynamic import, no fetch) and then calls
 * `WebAssembly.instantiate(bytes, imports)`. So we set `wasmBinary` to a marker and, only while
 * a session of our own starts the runtime, answer that one call with the imported module.
 * Every other call to `WebAssembly.instantiate` passes through untouched.
 */
import * as ort from "onnxruntime-web/wasm";
import ortWasm from "onnxruntime-web/ort-wasm-simd-threaded.wasm";
import { create, toBinary } from "@bufbuild/protobuf";
import { ModelProtoSchema } from "../models/gen/onnx_pb";
import { float32Input } from "../models/onnxGraph";

/** The 8-byte wasm header: a marker for "use the precompiled module", never compiled. */
const MARKER = Uint8Array.of(0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00);

function isMarker(source: unknown): boolean {
  if (!ArrayBuffer.isView(source) && !(source instanceof ArrayBuffer)) return false;
  const bytes = ArrayBuffer.isView(source)
    ? new Uint8Array(source.buffer, source.byteOffset, source.byteLength)
    : new Uint8Array(source);
  return bytes.length === MARKER.length && MARKER.every((b, i) => bytes[i] === b);
}

async function withPrecompiledRuntime<T>(init: () => Promise<T>): Promise<T> {
  const original = WebAssembly.instantiate;
  const redirect = ((source: unknown, imports?: WebAssembly.Imports) =>
    isMarker(source)
      ? // Emscripten expects the bytes overload's result: { instance, module }.
        original(ortWasm, imports).then((instance) => ({ instance, module: ortWasm }))
      : (original as (...args: unknown[]) => unknown).call(
          WebAssembly,
          source,
          imports,
        )) as typeof WebAssembly.instantiate;
  WebAssembly.instantiate = redirect;
  try {
    return await init();
  } finally {
    if (WebAssembly.instantiate === redirect) WebAssembly.instantiate = original;
  }
}

/**
 * A one-node model (Identity over a float [1]) that starts the runtime: the start is then the
 * runtime's own, and a registered model that fails to load fails only its own session.
 */
const STARTER = toBinary(
  ModelProtoSchema,
  create(ModelProtoSchema, {
    irVersion: 8n,
    opsetImport: [{ domain: "", version: 13n }],
    graph: {
      name: "start",
      node: [{ opType: "Identity", input: ["x"], output: ["y"] }],
      input: [float32Input("x", [1])],
      output: [float32Input("y", [1])],
    },
  }),
);

const OPTIONS: ort.InferenceSession.SessionOptions = { executionProviders: ["wasm"], graphOptimizationLevel: "all" };

let runtimeReady: Promise<void> | undefined;

/**
 * Starts onnxruntime once per isolate. A failed start is final (ORT refuses a second init): every
 * later call reports it.
 */
function startRuntime(): Promise<void> {
  if (!runtimeReady) {
    ort.env.wasm.numThreads = 1; // workerd has no threads to give Emscripten's pthreads
    ort.env.wasm.proxy = false;
    ort.env.wasm.wasmBinary = MARKER;
    runtimeReady = withPrecompiledRuntime(async () => {
      const session = await ort.InferenceSession.create(STARTER, OPTIONS);
      await session.release();
    }).catch((e: unknown) => {
      throw new Error(`onnxruntime-web did not start in this isolate: ${(e as Error).message}`);
    });
  }
  return runtimeReady;
}

/** An InferenceSession on the wasm backend; the first call also starts the runtime. */
export async function createSession(model: Uint8Array): Promise<ort.InferenceSession> {
  await startRuntime();
  return ort.InferenceSession.create(model, OPTIONS);
}

export { ort };
