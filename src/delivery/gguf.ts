/**
 * llama.cpp's GGUF LoRA adapter (`llama-cli --lora`, `llama_adapter_lora_init`), written as
 * llama.cpp's convert_lora_to_gguf.py writes it through gguf-py's GGUFWriter. Writing only: the
 * tests read files back with test/readers/gguf.ts.
 *
 * GGUF v3, little-endian: magic "GGUF", version u32, tensor count u64, metadata count u64; each
 * metadata pair as key (u64 length + UTF-8) then value type u32 and value; each tensor info as
 * name, n_dims u32, ne[] u64 (ne[0] is the row length), ggml type u32, offset u64 from the data
 * section; zeros up to general.alignment (32 when absent); the data, every tensor padded to it.
 *
 * What the loader (src/llama-adapter.cpp) checks: general.type "adapter", general.architecture
 * equal to the model's, adapter.type "lora"; tensors in `<base>.lora_a` / `<base>.lora_b` pairs,
 * `<base>` a tensor of the model, a with ne [in, r] and b with ne [r, out]. Each pair is scaled by
 * adapter.lora.alpha / r (r = b's ne[0]), or by the user's scale alone when alpha is 0.
 */
import type { AdapterFactors, LoraTarget } from "../adapters/factors";
import { halfBytes } from "../adapters/safetensors";

export const GGUF_MAGIC = "GGUF";
export const GGUF_VERSION = 3;
/** gguf-py's GGUF_DEFAULT_ALIGNMENT, what a file without general.alignment uses. */
export const GGUF_DEFAULT_ALIGNMENT = 32;

/** ggml tensor types (ggml.h `enum ggml_type`): this module writes F32 and F16; BF16 is named for readers. */
export const GgmlType = { F32: 0, F16: 1, BF16: 30 } as const;

/** gguf-py's GGUFValueType (ggml's `enum gguf_type`). */
export const GgufValueType = {
  UINT8: 0,
  INT8: 1,
  UINT16: 2,
  INT16: 3,
  UINT32: 4,
  INT32: 5,
  FLOAT32: 6,
  BOOL: 7,
  STRING: 8,
  ARRAY: 9,
  UINT64: 10,
  INT64: 11,
  FLOAT64: 12,
} as const;

export interface GgufLoraOptions {
  /** The base model's `general.architecture`; llama.cpp refuses an adapter of another one. */
  readonly architecture: string;
  /** Element type of every tensor (convert_lora_to_gguf.py's --outtype f32 / f16). */
  readonly dtype: "fp32" | "fp16";
  /**
   * adapter.lora.alpha. Default: the factors' rank, so llama.cpp's scale alpha / r is 1: the
   * scaling is already folded into B.
   */
  readonly alpha?: number;
  /**
   * Attention heads of the base model. llama.cpp's converter reorders the rows of q_proj by
   * them (and k_proj's by `kvHeads`, default `heads`) for ggml's rotary layout, so a LoRA B of
   * those modules must be reordered the same way; required for the "llama" architecture.
   */
  readonly heads?: number;
  readonly kvHeads?: number;
}

/**
 * Architectures whose converter behaviour was checked here: whether it permutes q/k rows
 * (convert_hf_to_gguf's LlamaModel.undo_permute = True for "llama").
 */
const ROTARY_PERMUTED: Readonly<Record<string, boolean>> = { llama: true };

const ATTENTION = /^model\.layers\.(\d+)\.self_attn\.([qkvo])_proj$/;
/** gguf-py's tensor_mapping for Llama's self_attn projections. */
const GGUF_ATTENTION = { q: "attn_q", k: "attn_k", v: "attn_v", o: "attn_output" } as const;

function attentionTensor(module: string): { name: string; projection: keyof typeof GGUF_ATTENTION } {
  const m = ATTENTION.exec(module);
  if (!m) {
    throw new RangeError(
      `${module}: no GGUF tensor for this module; mapped are model.layers.<N>.self_attn.{q,k,v,o}_proj`,
    );
  }
  const projection = m[2] as keyof typeof GGUF_ATTENTION;
  return { name: `blk.${Number(m[1])}.${GGUF_ATTENTION[projection]}.weight`, projection };
}

/**
 * A GGUF LoRA adapter with one `lora_a` (ne [in, r]) and one `lora_b` (ne [r, out]) per target,
 * in the order of `targets`: A [r, in] and B [out, r] row-major, as convert_lora_to_gguf.py
 * writes PEFT's lora_A / lora_B, B's rows of q and k in ggml's rotary order.
 */
export function toGgufLora(
  factors: AdapterFactors,
  targets: readonly LoraTarget[],
  options: GgufLoraOptions,
): Uint8Array {
  const permuted = ROTARY_PERMUTED[options.architecture];
  if (permuted === undefined) {
    throw new RangeError(
      `architecture ${JSON.stringify(options.architecture)}: GGUF LoRA export is checked for ` +
        `${Object.keys(ROTARY_PERMUTED).join(", ")} only`,
    );
  }
  const heads = { q: options.heads, k: options.kvHeads ?? options.heads };
  if (permuted && !(Number.isInteger(heads.q) && heads.q! > 0 && Number.isInteger(heads.k) && heads.k! > 0)) {
    throw new RangeError(
      `architecture ${options.architecture}: give heads (and kvHeads if different), positive integers: ` +
        `llama.cpp reorders q_proj and k_proj rows by them`,
    );
  }
  const known = new Set(targets.map((t) => t.module));
  for (const module of factors.keys()) {
    if (!known.has(module)) throw new RangeError(`${module}: not a LoRA target of the model`);
  }
  let rank = 0;
  const tensors: Array<{ name: string; dims: number[]; values: Float32Array }> = [];
  for (const target of targets) {
    const { name: base, projection } = attentionTensor(target.module);
    const f = factors.get(target.module);
    if (!f) throw new RangeError(`${target.module}: no factors; every LoRA target of the model needs them`);
    rank ||= f.rank;
    if (f.rank !== rank)
      throw new RangeError(
        `${target.module}: rank ${f.rank}, ${targets[0].module} has ${rank}: one alpha gives scale 1 to one rank only`,
      );
    if (f.a.length !== rank * target.in)
      throw new RangeError(`${target.module}.lora_A: ${f.a.length} values, expected [${rank}, ${target.in}]`);
    if (f.b.length !== target.out * rank)
      throw new RangeError(`${target.module}.lora_B: ${f.b.length} values, expected [${target.out}, ${rank}]`);
    const rotaryHeads = permuted && (projection === "q" || projection === "k") ? heads[projection] : undefined;
    const b = rotaryHeads === undefined ? f.b : rotaryRows(f.b, target.out, rank, rotaryHeads, target.module);
    tensors.push({ name: `${base}.lora_a`, dims: [target.in, rank], values: f.a });
    tensors.push({ name: `${base}.lora_b`, dims: [rank, target.out], values: b });
  }
  const alpha = options.alpha ?? rank;
  if (!Number.isFinite(alpha)) throw new RangeError(`alpha must be a finite number, got ${alpha}`);

  const out = new ByteWriter();
  out.bytes(new TextEncoder().encode(GGUF_MAGIC));
  out.u32(GGUF_VERSION);
  out.u64(tensors.length);
  const metadata: Array<[string, (w: ByteWriter) => void]> = [
    // The order convert_lora_to_gguf.py writes them in (general.name & co. left out: nothing reads them).
    ["general.architecture", (w) => w.typedString(options.architecture)],
    ["general.type", (w) => w.typedString("adapter")],
    ["adapter.type", (w) => w.typedString("lora")],
    ["adapter.lora.alpha", (w) => w.u32(GgufValueType.FLOAT32).f32(alpha)],
    // GGML_QUANT_VERSION, which every converter writes.
    ["general.quantization_version", (w) => w.u32(GgufValueType.UINT32).u32(2)],
  ];
  out.u64(metadata.length);
  for (const [key, value] of metadata) value(out.string(key));

  const type = options.dtype === "fp16" ? GgmlType.F16 : GgmlType.F32;
  const data = tensors.map((t) =>
    options.dtype === "fp16"
      ? halfBytes(t.values)
      : new Uint8Array(t.values.buffer, t.values.byteOffset, t.values.byteLength),
  );
  let offset = 0;
  tensors.forEach((t, i) => {
    out.string(t.name).u32(t.dims.length);
    for (const d of t.dims) out.u64(d);
    out.u32(type).u64(offset);
    offset += padded(data[i].byteLength, GGUF_DEFAULT_ALIGNMENT);
  });
  out.pad(GGUF_DEFAULT_ALIGNMENT);
  // Typed arrays are little-endian on every platform we run on, as the file wants.
  for (const d of data) out.bytes(d).pad(GGUF_DEFAULT_ALIGNMENT);
  return out.finish();
}

/**
 * llama.cpp's converter (LlamaModel.permute) reorders q_proj / k_proj rows from Hugging Face's
 * rotary layout (a head's first half rotates with its second half) to ggml's (adjacent pairs):
 * row h*d + 2j + s of the result is row h*d + s*d/2 + j of the weight; B's rows go with them.
 */
function rotaryRows(b: Float32Array, out: number, rank: number, heads: number, module: string): Float32Array {
  const headDim = out / heads;
  if (!Number.isInteger(headDim) || headDim % 2)
    throw new RangeError(`${module}: ${out} rows do not split into ${heads} heads of even size`);
  const half = headDim / 2;
  const result = new Float32Array(b.length);
  for (let h = 0; h < heads; h++) {
    for (let j = 0; j < half; j++) {
      for (let s = 0; s < 2; s++) {
        const from = (h * headDim + s * half + j) * rank;
        result.set(b.subarray(from, from + rank), (h * headDim + 2 * j + s) * rank);
      }
    }
  }
  return result;
}

export const padded = (n: number, align: number) => Math.ceil(n / align) * align;

/** Little-endian writer over growing chunks. */
class ByteWriter {
  private readonly chunks: Uint8Array[] = [];
  private length = 0;

  bytes(b: Uint8Array): this {
    this.chunks.push(b);
    this.length += b.byteLength;
    return this;
  }

  private scalar(size: number, set: (v: DataView) => void): this {
    const b = new Uint8Array(size);
    set(new DataView(b.buffer));
    return this.bytes(b);
  }

  u32(v: number): this {
    return this.scalar(4, (d) => d.setUint32(0, v, true));
  }

  u64(v: number): this {
    return this.scalar(8, (d) => d.setBigUint64(0, BigInt(v), true));
  }

  f32(v: number): this {
    return this.scalar(4, (d) => d.setFloat32(0, v, true));
  }

  /** gguf_string: u64 byte length, then UTF-8 without a terminator. */
  string(s: string): this {
    const b = new TextEncoder().encode(s);
    return this.u64(b.byteLength).bytes(b);
  }

  typedString(s: string): this {
    return this.u32(GgufValueType.STRING).string(s);
  }

  pad(align: number): this {
    return this.bytes(new Uint8Array(padded(this.length, align) - this.length));
  }

  finish(): Uint8Array {
    const out = new Uint8Array(this.length);
    let at = 0;
    for (const c of this.chunks) {
      out.set(c, at);
      at += c.byteLength;
    }
    return out;
  }
}
