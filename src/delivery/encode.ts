/** Merged adapters encoded in the release formats a profile offers; the sizes a byte budget is held to. */
import type { AdapterFactors } from "../adapters/factors";
import { DomainError } from "../errors";
import type { ModelContract } from "../inference/contract";
import { adapterFormat, shippedDtype, type AdapterFormat } from "./formats";
import type { StoredProfile } from "./profiles";

/** One merged adapter as the bytes of one release format, at the dtype that format ships in. */
export function encodeAdapter(
  format: AdapterFormat,
  factors: AdapterFactors,
  model: ModelContract,
  profile: Pick<StoredProfile, "dtype" | "modelId">,
): Uint8Array {
  const descriptor = adapterFormat(format);
  // A part is a task's own adapter compressed by an alloc run (src/runs/partAdapters.ts), never a merge re-encoded.
  if (descriptor.source !== "merged")
    throw new DomainError(
      "unprocessable",
      "format_mismatch",
      `${format} are built by an alloc run, not encoded from a merged adapter`,
    );
  return descriptor.encode(factors, model, shippedDtype(format, profile), profile.modelId);
}

/**
 * The largest file one merged adapter of rank `rank` becomes in any of the profile's formats:
 * every format's size depends on the shapes only, so zero factors give it exactly. K from a
 * profile's maxBytes uses this, the same rule publish checks the release against.
 */
export function shippedAdapterBytes(
  profile: Pick<StoredProfile, "dtype" | "modelId" | "formats">,
  model: ModelContract,
  rank: number,
): number {
  const zeros: AdapterFactors = new Map(
    model.loraTargets.map((t) => [
      t.module,
      { rank, a: new Float32Array(rank * t.in), b: new Float32Array(t.out * rank) },
    ]),
  );
  return Math.max(...profile.formats.map((format) => encodeAdapter(format, zeros, model, profile).byteLength));
}
