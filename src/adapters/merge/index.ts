/**
 * Merging LoRA adapters: pure functions over float32 factors, float64 inside, deterministic
 * (the same inputs give the same bytes). A merged adapter has its scaling folded in (1), as PEFT
 * writes it with lora_alpha = r.
 */
import { nextTurn } from "../../eventLoop";
import type { AdapterFactors, LoraFactors, LoraTarget } from "../factors";
import { resolveOptions, type MergeOptions } from "./options";
import { mergeMethod } from "./registry";
import { checkShapes } from "./shapes";
import { taskArithmeticMerge } from "./taskArithmetic";

export {
  DEFAULT_DENSITY,
  DEFAULT_SEED,
  MERGE_METHODS,
  type MergeMethod,
  type MergeOptions,
  type MergeSettings,
} from "./options";
export { toPeft, type PeftAdapter, type PeftAdapterConfig } from "./peftExport";

/** Merges every target module of `adapters` (shapes are checked first; see registry.ts for the methods). */
export function mergeAdapters(
  adapters: readonly AdapterFactors[],
  targets: readonly LoraTarget[],
  options: MergeOptions,
): AdapterFactors {
  const modules = mergeModules(adapters, targets, options);
  for (let step = modules.next(); ; step = modules.next()) if (step.done) return step.value;
}

/**
 * `mergeAdapters`, the same bytes, with a turn of the event loop between modules: an SVD merge is
 * about half a second of CPU per module, and a run's merge phase shares the isolate with requests.
 */
export async function mergeAdaptersInTurns(
  adapters: readonly AdapterFactors[],
  targets: readonly LoraTarget[],
  options: MergeOptions,
): Promise<AdapterFactors> {
  const modules = mergeModules(adapters, targets, options);
  for (let step = modules.next(); ; step = modules.next()) {
    if (step.done) return step.value;
    await nextTurn();
  }
}

/** Merges one module per step; returns the merged adapter. */
function* mergeModules(
  adapters: readonly AdapterFactors[],
  targets: readonly LoraTarget[],
  options: MergeOptions,
): Generator<void, AdapterFactors> {
  const maxRank = checkShapes(adapters, targets);
  const resolved = resolveOptions(options, adapters.length, maxRank);
  const method = mergeMethod(resolved.method)!;
  const merged = new Map<string, LoraFactors>();
  for (const target of targets) {
    const factors = adapters.map((a) => a.get(target.module)!);
    merged.set(
      target.module,
      method.kind === "factors"
        ? method.merge(factors, resolved.weights, target)
        : taskArithmeticMerge(factors, target, resolved, method),
    );
    yield;
  }
  return merged;
}
