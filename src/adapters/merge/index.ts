/**
 * Merging LoRA adapters: pure functions over float32 factors, float64 inside, deterministic
 * (the same inputs give the same bytes). A merged adapter has its scaling folded in (1), as PEFT
 * writes it with lora_alpha = r.
 */
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
  }
  return merged;
}
