/**
 * The release formats a profile can ship, each declared once: its encoder, the dtypes it is written
 * in, its size rule, and whether it must be alone in a profile. The profile schema, the manifest
 * type, encoding, the byte budget, GET /v1/capabilities, console and CLI read this list.
 */
import type { AdapterFactors } from "../adapters/factors";
import { toPeft } from "../adapters/merge/peftExport";
import { PART_DTYPES } from "../adapters/parts/quantize";
import { DomainError } from "../errors";
import type { ModelContract } from "../inference/contract";
import { toGgufLora } from "./gguf";
import { toOnnxAdapter } from "./onnxAdapter";

/** A profile's dtype: the precision of the formats that follow it. */
export const SHIPPED_DTYPES = ["fp16", "fp32"] as const;
export type ShippedDtype = (typeof SHIPPED_DTYPES)[number];

/** One merged adapter as a file of this format, at `dtype`, for `modelId`'s base model. */
type Encoder = (factors: AdapterFactors, model: ModelContract, dtype: ShippedDtype, modelId: string) => Uint8Array;

interface FormatCommon {
  readonly name: string;
  readonly summary: string;
  /** The dtypes its files are written in. */
  readonly dtypes: readonly string[];
  /** How its bytes count against a profile's maxBytes (GET /v1/capabilities shows it). */
  readonly sizeRule: string;
  /** Whether a profile offering it offers nothing else (its release is of another kind). */
  readonly alone: boolean;
  /** The budgets a profile shipping it may state. */
  readonly budgets: readonly ("maxAdapters" | "maxBytes")[];
}

/** Encoded from each merged adapter of a run. */
export interface MergedFormat extends FormatCommon {
  readonly source: "merged";
  /** "profile": the profile's dtype; "fp32": always fp32, whatever the profile says. */
  readonly dtype: "profile" | "fp32";
  readonly encode: Encoder;
}

/** Built by an "alloc" run, a task's own adapter compressed per part (src/runs/partAdapters.ts). */
export interface PartsFormat extends FormatCommon {
  readonly source: "parts";
  /** Each part at the dtype the allocator chose for it. */
  readonly dtype: "per part";
}

export type AdapterFormatDescriptor = MergedFormat | PartsFormat;

const MERGED_SIZE =
  "the largest file one merged adapter of the profile's rank becomes (shapes only); " +
  "every offered format's release must fit maxBytes";

/** The first is a profile's default; in this order in lists and errors. */
export const ADAPTER_FORMAT_DESCRIPTORS = [
  {
    name: "peft",
    source: "merged",
    dtype: "profile",
    dtypes: SHIPPED_DTYPES,
    sizeRule: MERGED_SIZE,
    alone: false,
    budgets: ["maxAdapters", "maxBytes"],
    summary: "PEFT safetensors (adapter_model.safetensors, lora_alpha = r)",
    encode: (factors, model, dtype, modelId) => toPeft(factors, model.loraTargets, modelId, dtype).safetensors,
  },
  {
    name: "onnx_adapter",
    source: "merged",
    dtype: "fp32",
    dtypes: ["fp32"],
    sizeRule: MERGED_SIZE,
    alone: false,
    budgets: ["maxAdapters", "maxBytes"],
    // ONNX Runtime feeds the tensors to the graph as they are; the contract's LoRA inputs are float32.
    summary: "ONNX Runtime's .onnx_adapter, always fp32 (the model contract's LoRA inputs are float32)",
    encode: (factors, model, dtype) => toOnnxAdapter(factors, model.loraTargets, { dtype }),
  },
  {
    name: "gguf",
    source: "merged",
    dtype: "profile",
    dtypes: SHIPPED_DTYPES,
    sizeRule: MERGED_SIZE,
    alone: false,
    budgets: ["maxAdapters", "maxBytes"],
    summary: "llama.cpp's GGUF LoRA (--lora), for a model whose contract gives its architecture and head count",
    encode: (factors, model, dtype) => {
      try {
        // Contracts written before the field are all llama models (tools/fixtures).
        return toGgufLora(factors, model.loraTargets, {
          architecture: model.architecture ?? "llama",
          dtype,
          heads: model.config?.n_heads,
          kvHeads: model.config?.n_kv_heads,
        });
      } catch (e) {
        // The model cannot be expressed as a llama.cpp adapter: the profile's choice, not a fault here.
        if (e instanceof RangeError) {
          throw new DomainError("unprocessable", "unsupported_format", `gguf for model ${model.modelId}: ${e.message}`);
        }
        throw e;
      }
    },
  },
  {
    name: "parts",
    source: "parts",
    dtype: "per part",
    dtypes: PART_DTYPES,
    alone: true,
    budgets: ["maxBytes"],
    sizeRule: "the sum of the release's part files (header included) must fit maxBytes",
    summary: "each task's own compressed parts, chosen by an alloc run; the client materialises a task's plain LoRA",
  },
] as const satisfies readonly AdapterFormatDescriptor[];

export type AdapterFormat = (typeof ADAPTER_FORMAT_DESCRIPTORS)[number]["name"];

export const ADAPTER_FORMATS = ADAPTER_FORMAT_DESCRIPTORS.map((f) => f.name) as [AdapterFormat, ...AdapterFormat[]];

const BY_NAME = new Map<string, AdapterFormatDescriptor>(ADAPTER_FORMAT_DESCRIPTORS.map((f) => [f.name, f]));

export function adapterFormat(name: AdapterFormat): AdapterFormatDescriptor {
  return BY_NAME.get(name)!;
}

/** The dtype a format's files are shipped in under a profile of `dtype`. */
export function shippedDtype(format: AdapterFormat, profile: { readonly dtype: ShippedDtype }): ShippedDtype {
  return adapterFormat(format).dtype === "fp32" ? "fp32" : profile.dtype;
}
