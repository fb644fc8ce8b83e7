/**
 * Two things the workerd test runtime does differently from `wrangler dev`, for CI's time alone
 * (docs/ci-time.md): the same onnxruntime module reaches the Worker's own loader another way, and the
 * same local Queues deliver a partial batch sooner (so in smaller batches). Loaded by vitest.config.ts.
 */
import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import type { Plugin } from "vite";
import { unstable_readConfig } from "wrangler";

const ORT_WASM = "onnxruntime-web/ort-wasm-simd-threaded.wasm";
const ORT_WASM_ID = "\0d2c-ort-wasm";

/** The ORT_WASM service binding: onnxruntime's wasm file, as it is on disk. */
export const serveOrtWasm = async () => new Response(await readFile(createRequire(import.meta.url).resolve(ORT_WASM)));

/**
 * The test runtime receives each imported module from vitest-plugin's module fallback as JSON, a
 * `.wasm` as an array of numbers: onnxruntime's 14 MB became 40 MB of JSON, about 3 s of CPU in
 * every test file that loads the Worker. This plugin resolves src/inference/ort.ts's import of it
 * to a module that fetches the bytes from a service binding and compiles them with the runtime's
 * UnsafeEval (which vitest-plugin 1.5 binds for its own module evaluation; the version is pinned):
 * the same WebAssembly.Module the import gives, handed to onnxruntime by the same loader.
 */
export function ortWasmFromBinding(): Plugin {
  return {
    name: "d2c-ort-wasm-from-binding",
    enforce: "pre",
    resolveId: (id) => (id === ORT_WASM ? ORT_WASM_ID : undefined),
    load: (id) =>
      id === ORT_WASM_ID
        ? [
            `import { env } from "cloudflare:workers";`,
            `const bytes = await (await env.ORT_WASM.fetch("http://ort/")).arrayBuffer();`,
            `export default env.__VITEST_POOL_WORKERS_UNSAFE_EVAL.newWasmModule(new Uint8Array(bytes));`,
          ].join("\n")
        : undefined,
  };
}

/** wrangler.toml's [[queues.consumers]], the fields a test runtime keeps. */
interface QueueConsumer {
  queue: string;
  max_batch_size?: number;
  max_retries?: number;
  dead_letter_queue?: string;
}

/** Seconds a local Queue holds a batch that is not full before it delivers it, in tests. */
const TEST_BATCH_TIMEOUT_S = 0.05;

/**
 * wrangler.toml's queue consumers with a 50 ms batch timeout. A run's phases wait on the queue one
 * after another, and each partial batch waited max_batch_timeout (1 s) before delivery: a D2C run's
 * tests spent most of their time idle. Size, retries and dead-letter queue stay as wrangler.toml says.
 */
export function testQueueConsumers(configPath: string) {
  const consumers: QueueConsumer[] = unstable_readConfig({ config: configPath }).queues.consumers ?? [];
  return Object.fromEntries(
    consumers.map((c) => [
      c.queue,
      {
        maxBatchSize: c.max_batch_size,
        maxBatchTimeout: TEST_BATCH_TIMEOUT_S,
        maxRetries: c.max_retries,
        deadLetterQueue: c.dead_letter_queue,
      },
    ]),
  );
}
