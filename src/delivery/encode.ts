/** Merged adapters encoded in the release formats a profile offers; the sizes a byte budget is held to. */
import type { AdapterFactors } from "../adapters/factors";
import { toPeft } from "../adapters/merge";
import { DomainError } from "../errors";
import type { ModelContract } from "../inference/contract";
import { shippedDtype } from "./budget";
import { toGgufLora } from "./gguf";
import type { AdapterFormat } from "./manifest";
import { toOnnxAdapter } from "./onnxAdapter";
import type { StoredProfile } from "./profiles";

/** One merged adapter as the bytes of one release format, at the dtype that format ships in. */
export function encodeAdapter(format: AdapterFormat, factors: AdapterFactors, model: ModelContract, profile: Pick<StoredProfile, "dtype" | "modelId">): Uint8Array {
  const targets = model.loraTargets;
  // A part is a task's own adapter compressed by an alloc run (src/runs/partAdapters.ts), never a merge re-encoded.
  if (format === "parts")
    throw new DomainError(
      "unprocessable",
      "format_mismatch",
      "parts are built by an alloc run, not encoded from a merged adapter",
    );
  const dtype = shippedDtype(format, profile);
  if (format === "onnx_adapter") return toOnnxAdapter(factors, targets, { dtype });
  if (format === "gguf") {
    try {
      // Contracts written before the field are all llama models (tools/fixtures).
      return toGgufLora(factors, targets, {
        architecture: model.architecture ?? "llama", dtype, heads: model.config?.n_heads, kvHeads: model.config?.n_kv_heads,
      });
    } catch (e) {
      // The model cannot be expressed as a llama.cpp adapter: the profile's choice, not a fault here.
      if (e instanceof RangeError) throw new DomainError("unprocessable", "unsupported_format", `gguf for model ${model.modelId}: ${e.message}`);
      throw e;
    }
  }
  return toPeft(factors, targets, profile.modelId, dtype).safetensors;
}

/**
 * The largest file one merged adapter of rank `rank` becomes in any of the profile's formats:
 * every format's size depends on the shapes only, so zero factors give it exactly. K from a
 * profile's maxBytes uses this, the same rule publish checks the release against.
 */
export function shippedAdapterBytes(profile: Pick<StoredProfile, "dtype" | "modelId" | "formats">, model: ModelContract, rank: number): number {
  const zeros: AdapterFactors = new Map(model.loraTargets.map((t) => [t.module, { rank, a: new Float32Array(rank * t.in), b: new Float32Array(t.out * rank) }]));
  return Math.max(...profile.formats.map((format) => encodeAdapter(format, zeros, model, profile).byteLength));
}
