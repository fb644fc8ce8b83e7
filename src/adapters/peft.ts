/**
 * PEFT LoRA adapters (`adapter_config.json` + `adapter_model.safetensors`) mapped onto the
 * model contract: per target module, A [r, in] and B [out, r] as float32, with PEFT's scaling
 * (alpha/r, or alpha/sqrt(r) with rsLoRA) folded into B once.
 */
import { zeroFactors, type AdapterFactors, type LoraFactors, type LoraTarget } from "./factors";
import { readSafetensors, SafetensorsError, toFloat32 } from "./safetensors";

export class AdapterError extends Error {
  constructor(message: string, readonly key?: string) {
    super(message);
    this.name = "AdapterError";
  }
}

export interface PeftConfig {
  readonly r: number;
  readonly lora_alpha: number;
  readonly use_rslora?: boolean;
}

/** Ranks above this are refused: a phone adapter of rank 256 is a mistake, not a task. */
export const MAX_RANK = 64;

const KEY = /^base_model\.model\.(.+)\.lora_([AB])\.weight$/;

/** Checks an `adapter_config.json` for what we implement; refuses the rest by name. */
export function parsePeftConfig(json: unknown): PeftConfig {
  const c = json as Record<string, unknown>;
  if (typeof c !== "object" || c === null || Array.isArray(c)) throw new AdapterError("adapter_config.json is not a JSON object");
  if (c.peft_type !== "LORA") throw new AdapterError(`adapter_config.json: peft_type is ${JSON.stringify(c.peft_type)}, expected "LORA"`);
  if (!Number.isInteger(c.r) || (c.r as number) < 1 || (c.r as number) > MAX_RANK) {
    throw new AdapterError(`adapter_config.json: r must be an integer in 1..${MAX_RANK}, got ${JSON.stringify(c.r)}`);
  }
  if (typeof c.lora_alpha !== "number" || !Number.isFinite(c.lora_alpha)) {
    throw new AdapterError("adapter_config.json: lora_alpha must be a finite number");
  }
  if (c.use_dora === true) throw new AdapterError("adapter_config.json: DoRA (use_dora) is not supported");
  if (c.fan_in_fan_out === true) throw new AdapterError("adapter_config.json: fan_in_fan_out is not supported");
  for (const field of ["rank_pattern", "alpha_pattern"] as const) {
    const v = c[field];
    if (v !== undefined && v !== null && (typeof v !== "object" || Object.keys(v).length > 0)) {
      throw new AdapterError(`adapter_config.json: ${field} is not supported; give every module the same r and lora_alpha`);
    }
  }
  if (c.bias !== undefined && c.bias !== "none") throw new AdapterError(`adapter_config.json: bias ${JSON.stringify(c.bias)} is not supported, only "none"`);
  return { r: c.r as number, lora_alpha: c.lora_alpha, use_rslora: c.use_rslora === true };
}

export function peftScaling(config: PeftConfig): number {
  return config.use_rslora ? config.lora_alpha / Math.sqrt(config.r) : config.lora_alpha / config.r;
}

/**
 * Validates the weights against the model's LoRA targets and returns the model inputs.
 * A target the adapter does not touch gets zero factors of rank 1 (no change).
 */
export function peftToFactors(config: PeftConfig, weights: Uint8Array, targets: readonly LoraTarget[]): AdapterFactors {
  let file;
  try {
    file = readSafetensors(weights);
  } catch (e) {
    if (e instanceof SafetensorsError) throw new AdapterError(`adapter_model.safetensors: ${e.message}`, e.key);
    throw e;
  }
  const byModule = new Map(targets.map((t) => [t.module, t]));
  const found = new Map<string, { a?: Float32Array; b?: Float32Array }>();
  for (const [key, tensor] of file.tensors) {
    const m = KEY.exec(key);
    if (!m) throw new AdapterError(`${key}: not a PEFT LoRA key (base_model.model.<module>.lora_A.weight or .lora_B.weight)`, key);
    const [, module, which] = m;
    const target = byModule.get(module);
    if (!target) throw new AdapterError(`${key}: module ${module} is not a LoRA target of the model (${targets.length} targets, e.g. ${targets[0]?.module})`, key);
    const expected = which === "A" ? [config.r, target.in] : [target.out, config.r];
    if (tensor.shape.length !== 2 || tensor.shape[0] !== expected[0] || tensor.shape[1] !== expected[1]) {
      throw new AdapterError(`${key}: shape [${tensor.shape}], expected [${expected}]`, key);
    }
    const values = toFloat32(tensor);
    for (let i = 0; i < values.length; i++) {
      if (!Number.isFinite(values[i])) throw new AdapterError(`${key}: value ${values[i]} at index ${i} is not finite`, key);
    }
    const pair = found.get(module) ?? {};
    pair[which === "A" ? "a" : "b"] = values;
    found.set(module, pair);
  }
  if (found.size === 0) throw new AdapterError("adapter_model.safetensors holds no LoRA tensors");
  const scaling = peftScaling(config);
  const factors = new Map<string, LoraFactors>();
  for (const target of targets) {
    const pair = found.get(target.module);
    if (!pair) {
      factors.set(target.module, zeroFactors(target));
      continue;
    }
    if (!pair.a || !pair.b) {
      const missing = `base_model.model.${target.module}.lora_${pair.a ? "B" : "A"}.weight`;
      throw new AdapterError(`${missing}: missing, its pair is present`, missing);
    }
    // A copy when the view is the file itself: scaling must not write into the caller's bytes.
    const b = pair.b.buffer === weights.buffer ? pair.b.slice() : pair.b;
    for (let i = 0; i < b.length; i++) b[i] *= scaling;
    factors.set(target.module, { rank: config.r, a: pair.a, b });
  }
  return factors;
}
