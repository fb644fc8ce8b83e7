/**
 * Storage precisions of adapter parts (issue 21): fp16, and int8 / int4 symmetric blockwise
 * quantisation with one fp16 scale per block of 32 values, as ONNX Runtime GenAI's int4 adapters
 * and llama.cpp's q8_0 store them. A block's scale is max|x| / qmax rounded to fp16, and values
 * are quantised against that rounded scale, so dequantising is exactly what the device computes.
 * int4 packs two values a byte, low nibble first, each stored as q + 8 (q in -7..7).
 */
import { floatToHalf, halfToFloat } from "../safetensors";

export type PartDtype = "fp16" | "int8" | "int4";
export const PART_DTYPES: readonly PartDtype[] = ["fp16", "int8", "int4"];

/** Values per quantisation block. */
export const BLOCK = 32;
const QMAX: Record<Exclude<PartDtype, "fp16">, number> = { int8: 127, int4: 7 };

/**
 * A tensor as stored: `data` (fp16 bits little-endian, int8 bytes, or packed int4) and, quantised, one
 * fp16 scale per block.
 */
export interface StoredTensor {
  readonly dtype: PartDtype;
  readonly length: number;
  readonly data: Uint8Array;
  /** fp16 bits, one per block of BLOCK values; empty for fp16. */
  readonly scales: Uint16Array;
}

/** Bytes a tensor of `length` values takes at `dtype`, scales included: what a budget counts. */
export function storedBytes(length: number, dtype: PartDtype): number {
  if (dtype === "fp16") return 2 * length;
  const scales = 2 * Math.ceil(length / BLOCK);
  return scales + (dtype === "int8" ? length : Math.ceil(length / 2));
}

export function quantize(values: Float32Array, dtype: PartDtype): StoredTensor {
  const length = values.length;
  if (dtype === "fp16")
    return {
      dtype,
      length,
      data: new Uint8Array(Uint16Array.from(values, floatToHalf).buffer),
      scales: new Uint16Array(0),
    };
  const qmax = QMAX[dtype];
  const blocks = Math.ceil(length / BLOCK);
  const scales = new Uint16Array(blocks);
  const q = new Int8Array(length);
  for (let block = 0; block < blocks; block++) {
    const start = block * BLOCK;
    const end = Math.min(start + BLOCK, length);
    let max = 0;
    for (let i = start; i < end; i++) max = Math.max(max, Math.abs(values[i]));
    scales[block] = floatToHalf(max / qmax);
    const scale = halfToFloat(scales[block]);
    if (scale === 0) continue; // an all-zero block (or one below fp16's range) stays zero
    for (let i = start; i < end; i++) q[i] = Math.max(-qmax, Math.min(qmax, Math.round(values[i] / scale)));
  }
  if (dtype === "int8") return { dtype, length, data: new Uint8Array(q.buffer), scales };
  const packed = new Uint8Array(Math.ceil(length / 2));
  for (let i = 0; i < length; i++) packed[i >> 1] |= (q[i] + 8) << ((i & 1) * 4);
  return { dtype, length, data: packed, scales };
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
    const q = signed ? signed[i] : ((t.data[i >> 1] >> ((i & 1) * 4)) & 0xf) - 8;
    out[i] = q * halfToFloat(t.scales[Math.floor(i / BLOCK)]);
  }
  return out;
}
