/**
 * onnxruntime-node for the evaluator: every core to one session's intra-op pool, and the CUDA
 * execution provider where onnxruntime-node has its provider library (installed with
 * `npm install onnxruntime-node --onnxruntime-node-install=cuda12` or the CUDA image, see
 * evaluator/container/); a session CUDA cannot create falls back to the CPU provider.
 */
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { availableParallelism } from "node:os";
import { dirname, join } from "node:path";
import * as ort from "onnxruntime-node";

export type ExecutionProvider = "cuda" | "cpu";

export interface Runtime {
  readonly version: string;
  readonly threads: number;
  /** What the provider probe found: "cuda" only where the provider library is installed. */
  readonly preferred: ExecutionProvider;
  /** Why CUDA is not preferred, or null. */
  readonly cudaMissing: string | null;
  /** The provider the last session was created with (null before the first). */
  used: ExecutionProvider | null;
  createSession(path: string): Promise<ort.InferenceSession>;
}

export function createRuntime(): Runtime {
  const require = createRequire(import.meta.url);
  const binaries = join(
    dirname(require.resolve("onnxruntime-node")),
    "..",
    "bin",
    "napi-v6",
    process.platform,
    process.arch,
  );
  const cudaLibrary = join(binaries, "libonnxruntime_providers_cuda.so");
  const cudaMissing = !ort.listSupportedBackends().some((b) => b.name === "cuda")
    ? "this onnxruntime-node build has no CUDA backend"
    : existsSync(cudaLibrary)
      ? null
      : "no CUDA provider library (libonnxruntime_providers_cuda.so) installed";
  const threads = availableParallelism();
  const version = (require("onnxruntime-node/package.json") as { version: string }).version;
  const options = (providers: ExecutionProvider[]): ort.InferenceSession.SessionOptions => ({
    executionProviders: providers,
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    executionMode: "sequential",
    graphOptimizationLevel: "all",
  });
  const runtime: Runtime = {
    version,
    threads,
    preferred: cudaMissing === null ? "cuda" : "cpu",
    cudaMissing,
    used: null,
    async createSession(path) {
      if (runtime.preferred === "cuda") {
        try {
          const session = await ort.InferenceSession.create(path, options(["cuda", "cpu"]));
          runtime.used = "cuda";
          return session;
        } catch (e) {
          console.warn(`CUDA session failed, using the CPU provider: ${e instanceof Error ? e.message : String(e)}`);
        }
      }
      const session = await ort.InferenceSession.create(path, options(["cpu"]));
      runtime.used = "cpu";
      return session;
    },
  };
  return runtime;
}

export { ort };
