/** A merged adapter written as a PEFT LoRA adapter: fp32 safetensors and its adapter_config.json. */
import type { AdapterFactors, LoraTarget } from "../factors";
import { halfBytes, writeSafetensors, type TensorInput } from "../safetensors";

/** adapter_config.json of a merged adapter: lora_alpha = r, so PEFT's scaling is 1. */
export interface PeftAdapterConfig {
  readonly peft_type: "LORA";
  readonly task_type: "CAUSAL_LM";
  readonly base_model_name_or_path: string | null;
  readonly r: number;
  readonly lora_alpha: number;
  /** Full module paths, one per target. */
  readonly target_modules: readonly string[];
  readonly lora_dropout: 0;
  readonly bias: "none";
  readonly fan_in_fan_out: false;
  readonly use_rslora: false;
  readonly use_dora: false;
  readonly rank_pattern: Record<string, never>;
  readonly alpha_pattern: Record<string, never>;
  readonly inference_mode: true;
}

export interface PeftAdapter {
  readonly config: PeftAdapterConfig;
  /** fp32 tensors `base_model.model.<module>.lora_A.weight` [r, in] and `.lora_B.weight` [out, r]. */
  readonly safetensors: Uint8Array;
}

/**
 * Every target must have factors, and all of the same rank: PEFT's config has one r (the svd
 * family gives `rank` everywhere; cat the summed rank, the same everywhere when the inputs share
 * ranks). `baseModel` fills base_model_name_or_path; `dtype` "fp16" halves the bytes a phone
 * downloads (round to nearest even), "fp32" (default) keeps every bit.
 */
export function toPeft(
  factors: AdapterFactors,
  targets: readonly LoraTarget[],
  baseModel?: string,
  dtype: "fp32" | "fp16" = "fp32",
): PeftAdapter {
  for (const module of factors.keys()) {
    if (!targets.some((t) => t.module === module))
      throw new RangeError(`module ${module} is not one of the ${targets.length} targets`);
  }
  const tensors: Record<string, TensorInput> = {};
  let r = 0;
  for (const { module, in: inDim, out } of targets) {
    const f = factors.get(module);
    if (!f) throw new RangeError(`no factors for module ${module}`);
    r ||= f.rank;
    if (f.rank !== r) {
      throw new RangeError(
        `module ${module} has rank ${f.rank}, ${targets[0].module} has ${r}: a PEFT adapter has one r for all modules`,
      );
    }
    if (f.a.length !== r * inDim || f.b.length !== out * r) {
      throw new RangeError(
        `module ${module}: A has ${f.a.length} values and B ${f.b.length}, expected [${r}, ${inDim}] and ` +
          `[${out}, ${r}]`,
      );
    }
    tensors[`base_model.model.${module}.lora_A.weight`] = tensorOf(f.a, [r, inDim], dtype);
    tensors[`base_model.model.${module}.lora_B.weight`] = tensorOf(f.b, [out, r], dtype);
  }
  const config: PeftAdapterConfig = {
    peft_type: "LORA",
    task_type: "CAUSAL_LM",
    base_model_name_or_path: baseModel ?? null,
    r,
    lora_alpha: r,
    target_modules: targets.map((t) => t.module),
    lora_dropout: 0,
    bias: "none",
    fan_in_fan_out: false,
    use_rslora: false,
    use_dora: false,
    rank_pattern: {},
    alpha_pattern: {},
    inference_mode: true,
  };
  return { config, safetensors: writeSafetensors(tensors, { format: "pt" }) };
}

/** Little-endian bytes (every platform Workers run on is little-endian). */
function tensorOf(values: Float32Array, shape: number[], dtype: "fp32" | "fp16"): TensorInput {
  if (dtype === "fp32")
    return { dtype: "F32", shape, bytes: new Uint8Array(values.buffer, values.byteOffset, values.byteLength) };
  return { dtype: "F16", shape, bytes: halfBytes(values) };
}
