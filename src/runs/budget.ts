/**
 * A storage budget turned into K, the number of merged adapters a device can hold. A merged
 * adapter of rank r costs r (in + out) parameters per target module at the budget's dtype.
 */
import type { LoraTarget } from "../adapters/factors";

export interface Budget {
  readonly maxAdapters?: number;
  readonly maxBytes?: number;
  /** Bytes per parameter on the device: fp16 (default, what phones store) or fp32. */
  readonly dtype?: "fp16" | "fp32";
}

export function adapterBytes(targets: readonly LoraTarget[], rank: number, dtype: "fp16" | "fp32" = "fp16"): number {
  const parameters = targets.reduce((sum, t) => sum + rank * (t.in + t.out), 0);
  return parameters * (dtype === "fp16" ? 2 : 4);
}

/**
 * The largest K within the budget and the task count, each merged adapter costing `bytesPerAdapter`; 0 when not even
 * one fits.
 */
export function kForBudget(budget: Budget, tasks: number, bytesPerAdapter: number): number {
  let k = tasks;
  if (budget.maxAdapters !== undefined) k = Math.min(k, budget.maxAdapters);
  if (budget.maxBytes !== undefined) k = Math.min(k, Math.floor(budget.maxBytes / bytesPerAdapter));
  return k;
}
