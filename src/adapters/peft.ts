/**
 * PEFT LoRA adapters (`adapter_config.json` + `adapter_model.safetensors`) mapped onto the
 * model contract: per target module, A [r, in] and B [out, r] as float32, with PEFT's scaling
 * (alpha/r, or alpha/sqrt(r) with rsLoRA) folded into B once.
 */
import { DomainError, quoted } from "../errors";
import { deltaNorm, zeroFactors, type AdapterFactors, type LoraFactors, type LoraTarget } from "./factors";
import { readSafetensors, SafetensorsError, toFloat32 } from "./safetensors";

/**
 * An adapter that does not fit the model contract: 422, or 400 where the files contradict themselves or name what the
 * model lacks.
 */
export class AdapterError extends DomainError {
  constructor(
    message: string,
    readonly key?: string,
    kind: "invalid" | "unprocessable" = "unprocessable",
  ) {
    super(kind, kind === "invalid" ? "bad_adapter" : "invalid_adapter", message);
    this.name = "AdapterError";
  }
}

export interface PeftConfig {
  readonly r: number;
  readonly lora_alpha: number;
  readonly use_rslora?: boolean;
  /** Module names (PEFT matches a name or a dotted suffix of the module path) or one regex over the full path. */
  readonly target_modules?: readonly string[] | string;
}

/** Ranks above this are refused: a phone adapter of rank 256 is a mistake, not a task. */
export const MAX_RANK = 64;

/**
 * Bounds on the effective (scaled) factors, the numbers the model will actually use. Each value
 * must fit fp16 (phones store adapters in fp16: 65504 is its largest finite value), and each
 * module's update dW = B A must have a Frobenius norm of at most 1,000: the reference world's
 * largest is 7.0, a real LoRA's is of the order of 1-10, and a base projection's own weights of
 * the order of 100. Anything above is a broken export or a hostile `lora_alpha`, and would make
 * every loss of a cluster it joins non-finite.
 */
export const MAX_FACTOR_VALUE = 65504;
export const MAX_DELTA_NORM = 1000;

const KEY = /^base_model\.model\.(.+)\.lora_([AB])\.weight$/;

/** Checks an `adapter_config.json` for what we implement; refuses the rest by name. */
export function parsePeftConfig(json: unknown): PeftConfig {
  const c = json as Record<string, unknown>;
  if (typeof c !== "object" || c === null || Array.isArray(c))
    throw new AdapterError("adapter_config.json is not a JSON object");
  if (c.peft_type !== "LORA")
    throw new AdapterError(`adapter_config.json: peft_type is ${quoted(c.peft_type)}, expected "LORA"`);
  if (!Number.isInteger(c.r) || (c.r as number) < 1 || (c.r as number) > MAX_RANK) {
    throw new AdapterError(`adapter_config.json: r must be an integer in 1..${MAX_RANK}, got ${quoted(c.r)}`);
  }
  if (typeof c.lora_alpha !== "number" || !Number.isFinite(c.lora_alpha) || c.lora_alpha <= 0) {
    throw new AdapterError(
      `adapter_config.json: lora_alpha must be a finite number above 0, got ${quoted(c.lora_alpha)}`,
    );
  }
  if (c.use_dora === true) throw new AdapterError("adapter_config.json: DoRA (use_dora) is not supported");
  if (c.fan_in_fan_out === true) throw new AdapterError("adapter_config.json: fan_in_fan_out is not supported");
  for (const field of ["rank_pattern", "alpha_pattern"] as const) {
    const v = c[field];
    if (v !== undefined && v !== null && (typeof v !== "object" || Object.keys(v).length > 0)) {
      throw new AdapterError(
        `adapter_config.json: ${field} is not supported; give every module the same r and lora_alpha`,
      );
    }
  }
  if (c.bias !== undefined && c.bias !== "none")
    throw new AdapterError(`adapter_config.json: bias ${quoted(c.bias)} is not supported, only "none"`);
  const targets = c.target_modules;
  if (
    targets !== undefined &&
    targets !== null &&
    typeof targets !== "string" &&
    !(Array.isArray(targets) && targets.every((t) => typeof t === "string"))
  ) {
    throw new AdapterError(
      "adapter_config.json: target_modules must be a list of module names or one regular expression",
      undefined,
      "invalid",
    );
  }
  return {
    r: c.r as number,
    lora_alpha: c.lora_alpha,
    use_rslora: c.use_rslora === true,
    ...(typeof targets === "string" || Array.isArray(targets) ? { target_modules: targets as string[] | string } : {}),
  };
}

/**
 * PEFT refuses to load an adapter whose `target_modules` name a module the base model lacks; so
 * do we, naming it. A list entry matches a module path equal to it or ending in `.<entry>`; a
 * string is a regular expression over the whole path (PEFT's re.fullmatch).
 */
export function checkTargetModules(config: PeftConfig, targets: readonly LoraTarget[]): void {
  const wanted = config.target_modules;
  if (wanted === undefined) return;
  const paths = targets.map((t) => t.module);
  const known = `the model's LoRA targets are ${[...new Set(paths.map((p) => p.split(".").pop()))].join(", ")}`;
  if (typeof wanted === "string") {
    let pattern: RegExp;
    try {
      pattern = new RegExp(`^(?:${wanted})$`);
    } catch {
      throw new AdapterError(
        `adapter_config.json: target_modules ${quoted(wanted)} is not a valid regular expression`,
        undefined,
        "invalid",
      );
    }
    if (!paths.some((p) => pattern.test(p)))
      throw new AdapterError(
        `adapter_config.json: target_modules ${quoted(wanted)} matches no module of the model; ${known}`,
        undefined,
        "invalid",
      );
    return;
  }
  const missing = wanted.filter((name) => !paths.some((p) => p === name || p.endsWith(`.${name}`)));
  if (missing.length)
    throw new AdapterError(
      `adapter_config.json: target_modules names ${missing.join(", ")}, which the model lacks; ${known}`,
      undefined,
      "invalid",
    );
}

export function peftScaling(config: PeftConfig): number {
  return config.use_rslora ? config.lora_alpha / Math.sqrt(config.r) : config.lora_alpha / config.r;
}

/**
 * Validates the weights against the model's LoRA targets and returns the model inputs.
 * A target the adapter does not touch gets zero factors of rank 1 (no change).
 */
export function peftToFactors(config: PeftConfig, weights: Uint8Array, targets: readonly LoraTarget[]): AdapterFactors {
  checkTargetModules(config, targets);
  let file;
  try {
    file = readSafetensors(weights);
  } catch (e) {
    if (e instanceof SafetensorsError) throw new AdapterError(`adapter_model.safetensors: ${e.message}`, e.key, e.kind);
    throw e;
  }
  const byModule = new Map(targets.map((t) => [t.module, t]));
  const found = new Map<string, { a?: Float32Array; b?: Float32Array }>();
  for (const [key, tensor] of file.tensors) {
    const m = KEY.exec(key);
    if (!m)
      throw new AdapterError(
        `${key}: not a PEFT LoRA key (base_model.model.<module>.lora_A.weight or .lora_B.weight)`,
        key,
      );
    const [, module, which] = m;
    const target = byModule.get(module);
    if (!target)
      throw new AdapterError(
        `${key}: module ${module} is not a LoRA target of the model (${targets.length} targets, e.g. ` +
          `${targets[0]?.module})`,
        key,
      );
    const expected = which === "A" ? [config.r, target.in] : [target.out, config.r];
    if (tensor.shape.length !== 2 || tensor.shape[0] !== expected[0] || tensor.shape[1] !== expected[1]) {
      throw new AdapterError(`${key}: shape [${tensor.shape}], expected [${expected}]`, key);
    }
    const values = toFloat32(tensor);
    for (let i = 0; i < values.length; i++) {
      if (!Number.isFinite(values[i]))
        throw new AdapterError(`${key}: value ${values[i]} at index ${i} is not finite`, key);
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
    const effective = { rank: config.r, a: pair.a, b };
    checkEffective(target.module, effective, scaling);
    factors.set(target.module, effective);
  }
  return factors;
}

/** The scaled factors against MAX_FACTOR_VALUE and MAX_DELTA_NORM; the error names the module and the scaling. */
function checkEffective(module: string, f: LoraFactors, scaling: number): void {
  const why = `(PEFT scaling ${scaling} applied)`;
  for (const [name, values] of [
    ["lora_A", f.a],
    ["lora_B", f.b],
  ] as const) {
    for (let i = 0; i < values.length; i++) {
      if (!(Math.abs(values[i]) <= MAX_FACTOR_VALUE)) {
        throw new AdapterError(
          `base_model.model.${module}.${name}.weight: effective value ${values[i]} at index ${i} is outside ` +
            `±${MAX_FACTOR_VALUE} ${why}`,
          module,
        );
      }
    }
  }
  const norm = deltaNormAbove(f, MAX_DELTA_NORM);
  if (norm !== null) {
    throw new AdapterError(
      `${module}: the update B A has Frobenius norm ${norm.toPrecision(3)}, above the bound ${MAX_DELTA_NORM} ${why}`,
      module,
    );
  }
}

/**
 * ||B A||_F when it exceeds `bound`, else null. The product of the factors' norms bounds it and
 * costs one pass; only above `bound` is the exact value computed (`deltaNorm`).
 */
export function deltaNormAbove(factors: LoraFactors, bound: number): number | null {
  const sumSquares = (v: Float32Array) => v.reduce((s, x) => s + x * x, 0);
  if (Math.sqrt(sumSquares(factors.a) * sumSquares(factors.b)) <= bound) return null;
  const norm = deltaNorm(factors);
  return norm > bound ? norm : null;
}
