/**
 * Storage precisions of adapter parts (issue 21), each with one fp16 scale per block of 32 values
 * except fp16 itself:
 *   - int8 / int4: symmetric, as ONNX Runtime GenAI's int4 adapters and llama.cpp's q8_0 store
 *     them. A block's scale is max|x| / qmax rounded to fp16; int4 packs two values a byte, low
 *     nibble first, each as q + 8 (q in -7..7).
 *   - nf3: 3 bits a value, the index of the nearest of 8 levels placed at normal quantiles (QLoRA's
 *     NormalFloat construction at 3 bits), times the block's max|x|. A device never runs it as is:
 *     the client materialises a plain float LoRA, so a codebook costs nothing at inference. At equal
 *     bytes it beat int3 and int4 on the reference world (nf3 rank 4: 78.2% held-out at 10.9% of the
 *     own adapters' bytes; int4 rank 3: 72.2% at 10.5%): truncated singular vectors are near normal.
 * Values are quantised against the fp16-rounded scale, so dequantising is exactly what the device computes.
 */
import { floatToHalf, halfToFloat } from "../safetensors";

export type PartDtype = "fp16" | "int8" | "int4" | "nf3";
export const PART_DTYPES: readonly PartDtype[] = ["fp16", "int8", "int4", "nf3"];

/** Values per quantisation block. */
export const BLOCK = 32;
const QMAX = { int8: 127, int4: 7 } as const;
const BITS: Record<PartDtype, number> = { fp16: 16, int8: 8, int4: 4, nf3: 3 };
/** NF3's levels in units of the block's max|x|: quantiles of the normal, 0 and +-1 exact. */
const NF3 = [-1, -0.568, -0.2658, 0, 0.1977, 0.4092, 0.6567, 1];

/**
 * A tensor as stored: `data` (fp16 bits little-endian, int8 bytes, packed int4, or nf3 indices as a
 * little-endian bit stream) and, quantised, one fp16 scale per block.
 */
export interface StoredTensor {
  readonly dtype: PartDtype;
  readonly length: number;
  readonly data: Uint8Array;
  /** fp16 bits, one per block of BLOCK values; empty for fp16. */
  readonly scales: Uint16Array;
}

/** Bytes of a tensor's scales at `dtype`. */
export const scaleBytes = (length: number, dtype: PartDtype) => (dtype === "fp16" ? 0 : 2 * Math.ceil(length / BLOCK));

/** Bytes a tensor of `length` values takes at `dtype`, scales included: what a budget counts. */
export function storedBytes(length: number, dtype: PartDtype): number {
  return Math.ceil((length * BITS[dtype]) / 8) + scaleBytes(length, dtype);
}

export function quantize(values: Float32Array, dtype: PartDtype): StoredTensor {
  const length = values.length;
  if (dtype === "fp16") {
    return {
      dtype,
      length,
      data: new Uint8Array(Uint16Array.from(values, floatToHalf).buffer),
      scales: new Uint16Array(0),
    };
  }
  const blocks = Math.ceil(length / BLOCK);
  const scales = new Uint16Array(blocks);
  // Per value: int8/int4 the signed level, nf3 the index of its level.
  const q = new Int8Array(length);
  for (let block = 0; block < blocks; block++) {
    const start = block * BLOCK;
    const end = Math.min(start + BLOCK, length);
    let max = 0;
    for (let i = start; i < end; i++) max = Math.max(max, Math.abs(values[i]));
    scales[block] = floatToHalf(dtype === "nf3" ? max : max / QMAX[dtype]);
    const scale = halfToFloat(scales[block]);
    for (let i = start; i < end; i++) {
      if (dtype === "nf3") q[i] = nearestLevel(scale === 0 ? 0 : values[i] / scale);
      // An all-zero block (or one below fp16's range) stays zero.
      else if (scale !== 0) q[i] = Math.max(-QMAX[dtype], Math.min(QMAX[dtype], Math.round(values[i] / scale)));
    }
  }
  if (dtype === "int8") return { dtype, length, data: new Uint8Array(q.buffer), scales };
  const data = new Uint8Array(Math.ceil((length * BITS[dtype]) / 8));
  if (dtype === "int4") for (let i = 0; i < length; i++) data[i >> 1] |= (q[i] + 8) << ((i & 1) * 4);
  else for (let i = 0; i < length; i++) writeBits(data, 3 * i, q[i]);
  return { dtype, length, data, scales };
}

export function dequantize(t: StoredTensor): Float32Array {
  const out = new Float32Array(t.length);
  if (t.dtype === "fp16") {
    const view = new DataView(t.data.buffer, t.data.byteOffset, t.data.byteLength);
    for (let i = 0; i < t.length; i++) out[i] = halfToFloat(view.getUint16(2 * i, true));
    return out;
  }
  const signed = t.dtype === "int8" ? new Int8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength) : null;
  for (let i = 0; i < t.length; i++) {
    const scale = halfToFloat(t.scales[Math.floor(i / BLOCK)]);
    if (t.dtype === "nf3") out[i] = NF3[readBits(t.data, 3 * i)] * scale;
    else out[i] = (signed ? signed[i] : ((t.data[i >> 1] >> ((i & 1) * 4)) & 0xf) - 8) * scale;
  }
  return out;
}

function nearestLevel(x: number): number {
  let best = 0;
  for (let l = 1; l < NF3.length; l++) if (Math.abs(NF3[l] - x) < Math.abs(NF3[best] - x)) best = l;
  return best;
}

/** A 3-bit value at bit `at` of a little-endian bit stream (it may straddle two bytes). */
function writeBits(data: Uint8Array, at: number, value: number): void {
  const word = (value & 7) << (at & 7);
  data[at >> 3] |= word & 0xff;
  if ((at & 7) > 5) data[(at >> 3) + 1] |= word >> 8;
}

function readBits(data: Uint8Array, at: number): number {
  const byte = at >> 3;
  const word = data[byte] | ((at & 7) > 5 ? data[byte + 1] << 8 : 0);
  return (word >> (at & 7)) & 7;
}
