/**
 * A profile's storage budget against a release. What `maxBytes` promises: whichever one of the
 * profile's formats a device downloads, the release's adapters in that format (every merged
 * adapter, each at the dtype that format is shipped in) take at most maxBytes. So every offered
 * format must fit, not only the first: the reference client may pick any of them.
 */
import { DomainError } from "../errors";
import { adapterFormat, shippedDtype, type AdapterFormat } from "./formats";
import type { StoredProfile } from "./profiles";

/** Checked before any blob is encoded: more merged adapters than the device holds is 422. */
export function checkAdapterBudget(profile: StoredProfile, runId: string, adapters: number): void {
  const max = profile.budget.maxAdapters;
  if (max !== undefined && adapters > max) {
    throw new DomainError(
      "unprocessable",
      "over_budget",
      `run ${runId} has ${adapters} merged adapters; profile ${profile.id}'s budget is maxAdapters ${max}`,
    );
  }
}

/** Checked after encoding, before any write: `bytes` is the release's size per offered format. */
export function checkByteBudget(
  profile: StoredProfile,
  runId: string,
  adapters: number,
  bytes: ReadonlyMap<AdapterFormat, number>,
): void {
  const max = profile.budget.maxBytes;
  if (max === undefined) return;
  const over = [...bytes].filter(([, n]) => n > max).map(([format]) => format);
  if (!over.length) return;
  // A parts release is one format alone (the registry's `alone`): its bytes are the part files.
  const parts = [...bytes.keys()].find((format) => adapterFormat(format).source === "parts");
  if (parts !== undefined) {
    throw new DomainError(
      "unprocessable",
      "over_budget",
      `run ${runId}'s ${adapters} part files take ${bytes.get(parts)} bytes; profile ${profile.id}'s ` +
        `budget is maxBytes ${max}`,
    );
  }
  const sizes = [...bytes].map(([format, n]) => `${format} (${shippedDtype(format, profile)}) ${n} bytes`).join(", ");
  throw new DomainError(
    "unprocessable",
    "over_budget",
    `run ${runId}'s ${adapters} merged adapters take ${sizes}; profile ${profile.id}'s budget is maxBytes ` +
      `${max} in every format it offers (over in ${over.join(", ")})`,
  );
}
