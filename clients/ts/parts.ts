/**
 * A parts release's task adapter on the device (issue 21): the task's part file, read with the
 * model shapes its signed manifest names, materialised as the plain LoRA a runtime loads. The
 * modules are the Worker's own (src/adapters/parts, src/adapters/merge/peftExport.ts), called as
 * the run called them, so the PEFT file is byte for byte the adapter the run evaluated.
 */
import type { LoraTarget } from "../../src/adapters/factors";
import { toPeft } from "../../src/adapters/merge/peftExport";
import { decodePart } from "../../src/adapters/parts/partFile";
import { materialise } from "../../src/adapters/parts/privatePart";
import { toOnnxAdapter } from "../../src/delivery/onnxAdapter";

/**
 * What a part becomes on the device: PEFT (adapter_config.json, adapter_model.safetensors) or ONNX
 * Runtime's `.onnx_adapter`.
 */
export type MaterialisedFormat = "peft" | "onnx_adapter";

/** A part's rank and dtype as its file states them. */
export interface PartInfo {
  readonly task: string;
  readonly rank: number;
  readonly dtype: string;
}

export function partInfo(bytes: Uint8Array, targets: readonly LoraTarget[]): PartInfo {
  const { task, rank, dtype } = decodePart(bytes, targets);
  return { task, rank, dtype };
}

/** The files of the task's plain LoRA, by file name. */
export function materialisePart(
  bytes: Uint8Array,
  targets: readonly LoraTarget[],
  format: MaterialisedFormat,
): Record<string, Uint8Array> {
  const factors = materialise(decodePart(bytes, targets), targets);
  if (format === "onnx_adapter") return { "adapter.onnx_adapter": toOnnxAdapter(factors, targets, { dtype: "fp32" }) };
  const peft = toPeft(factors, targets);
  return {
    "adapter_config.json": new TextEncoder().encode(JSON.stringify(peft.config)),
    "adapter_model.safetensors": peft.safetensors,
  };
}
