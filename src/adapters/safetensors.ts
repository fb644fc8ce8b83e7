/**
 * safetensors: an 8-byte little-endian header length, a JSON header
 * `{ name: { dtype, shape, data_offsets: [begin, end] }, __metadata__? }`, then the data.
 * Offsets are relative to the end of the header. Tensors are returned as views into the
 * input bytes; nothing is copied until a caller asks for float32.
 */
import { quoted } from "../errors";

export type Dtype = "F32" | "F16" | "BF16";

export interface TensorView {
  readonly dtype: Dtype;
  readonly shape: readonly number[];
  /** The tensor's raw little-endian bytes, a view into the file. */
  readonly bytes: Uint8Array;
}

export interface Safetensors {
  readonly tensors: ReadonlyMap<string, TensorView>;
  readonly metadata: Readonly<Record<string, string>>;
}

export class SafetensorsError extends Error {
  constructor(
    message: string,
    /** The tensor the problem is about, when there is one. */
    readonly key?: string,
    /** "invalid" where the file breaks the format's own rules in a way a parser could miss (a repeated name). */
    readonly kind: "invalid" | "unprocessable" = "unprocessable",
  ) {
    super(message);
    this.name = "SafetensorsError";
  }
}

const ITEM_BYTES: Record<Dtype, number> = { F32: 4, F16: 2, BF16: 2 };
/** A real adapter's header is a few KB; anything near this is hostile or broken. */
export const MAX_HEADER_BYTES = 1 << 20;

export function readSafetensors(file: Uint8Array): Safetensors {
  if (file.byteLength < 8)
    throw new SafetensorsError(`file is ${file.byteLength} bytes, shorter than the 8-byte header length`);
  const view = new DataView(file.buffer, file.byteOffset, file.byteLength);
  const headerBytes = view.getBigUint64(0, true);
  if (headerBytes > BigInt(Math.min(MAX_HEADER_BYTES, file.byteLength - 8))) {
    throw new SafetensorsError(`header length ${headerBytes} exceeds the file or the ${MAX_HEADER_BYTES}-byte limit`);
  }
  const dataStart = 8 + Number(headerBytes);
  let header: unknown;
  try {
    header = JSON.parse(
      new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(file.subarray(8, dataStart)),
    );
  } catch {
    throw new SafetensorsError("header is not valid UTF-8 JSON");
  }
  if (typeof header !== "object" || header === null || Array.isArray(header)) {
    throw new SafetensorsError("header is not a JSON object");
  }
  const repeated = repeatedKey(new TextDecoder().decode(file.subarray(8, dataStart)));
  if (repeated !== null) throw new SafetensorsError(`header names tensor ${repeated} twice`, repeated, "invalid");
  const dataBytes = file.byteLength - dataStart;
  const tensors = new Map<string, TensorView>();
  const spans: Array<[number, number, string]> = [];
  let metadata: Record<string, string> = {};
  for (const [key, entry] of Object.entries(header as Record<string, unknown>)) {
    if (key === "__metadata__") {
      metadata = parseMetadata(entry);
      continue;
    }
    const { dtype, shape, begin, end } = parseEntry(key, entry);
    const expected = shape.reduce((n, d) => n * d, 1) * ITEM_BYTES[dtype];
    if (end - begin !== expected) {
      throw new SafetensorsError(
        `${key}: data_offsets span ${end - begin} bytes, shape [${shape}] of ${dtype} needs ${expected}`,
        key,
      );
    }
    if (end > dataBytes)
      throw new SafetensorsError(`${key}: data_offsets end ${end} is past the data section (${dataBytes} bytes)`, key);
    spans.push([begin, end, key]);
    tensors.set(key, { dtype, shape, bytes: file.subarray(dataStart + begin, dataStart + end) });
  }
  spans.sort((a, b) => a[0] - b[0]);
  for (let i = 1; i < spans.length; i++) {
    if (spans[i][0] < spans[i - 1][1]) {
      throw new SafetensorsError(`${spans[i][2]}: data overlaps ${spans[i - 1][2]}`, spans[i][2]);
    }
  }
  return { tensors, metadata };
}

/**
 * The first top-level key a JSON object text repeats, or null. JSON.parse keeps the last of
 * repeated keys, which would let a file show one tensor to us and another to a reader that keeps
 * the first; the safetensors spec forbids it. `text` must already parse as an object.
 */
function repeatedKey(text: string): string | null {
  const seen = new Set<string>();
  let depth = 0;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (ch === "{" || ch === "[") depth++;
    else if (ch === "}" || ch === "]") depth--;
    else if (ch === '"') {
      const start = i;
      for (i++; text[i] !== '"'; i++) if (text[i] === "\\") i++;
      if (depth !== 1) continue;
      let next = i + 1;
      while (/\s/.test(text[next])) next++;
      if (text[next] !== ":") continue;
      const key = JSON.parse(text.slice(start, i + 1)) as string;
      if (seen.has(key)) return key;
      seen.add(key);
    }
  }
  return null;
}

function parseEntry(key: string, entry: unknown): { dtype: Dtype; shape: number[]; begin: number; end: number } {
  const e = entry as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
  if (typeof e !== "object" || e === null) throw new SafetensorsError(`${key}: entry is not an object`, key);
  if (typeof e.dtype !== "string" || !(e.dtype in ITEM_BYTES)) {
    throw new SafetensorsError(`${key}: dtype ${quoted(e.dtype)} is not one of F32, F16, BF16`, key);
  }
  const shape = e.shape;
  if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    throw new SafetensorsError(`${key}: shape must be an array of non-negative integers`, key);
  }
  const offsets = e.data_offsets;
  if (
    !Array.isArray(offsets) ||
    offsets.length !== 2 ||
    !offsets.every((o) => Number.isSafeInteger(o) && o >= 0) ||
    offsets[0] > offsets[1]
  ) {
    throw new SafetensorsError(`${key}: data_offsets must be [begin, end] with 0 <= begin <= end`, key);
  }
  return { dtype: e.dtype as Dtype, shape: shape as number[], begin: offsets[0], end: offsets[1] };
}

function parseMetadata(entry: unknown): Record<string, string> {
  if (typeof entry !== "object" || entry === null || !Object.values(entry).every((v) => typeof v === "string")) {
    throw new SafetensorsError("__metadata__ must map strings to strings");
  }
  return entry as Record<string, string>;
}

/** The tensor as float32: a zero-copy view for aligned F32, a conversion otherwise. */
export function toFloat32(t: TensorView): Float32Array {
  const n = t.bytes.byteLength / ITEM_BYTES[t.dtype];
  if (t.dtype === "F32") {
    if (t.bytes.byteOffset % 4 === 0) return new Float32Array(t.bytes.buffer, t.bytes.byteOffset, n);
    return new Float32Array(t.bytes.slice().buffer);
  }
  const view = new DataView(t.bytes.buffer, t.bytes.byteOffset, t.bytes.byteLength);
  const out = new Float32Array(n);
  if (t.dtype === "BF16") {
    const bits = new Uint32Array(out.buffer);
    for (let i = 0; i < n; i++) bits[i] = view.getUint16(2 * i, true) << 16;
  } else {
    for (let i = 0; i < n; i++) out[i] = halfToFloat(view.getUint16(2 * i, true));
  }
  return out;
}

/** IEEE 754 binary16 to a JS number (exact). */
export function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exponent = (h >> 10) & 0x1f;
  const fraction = h & 0x3ff;
  if (exponent === 0) return sign * fraction * 2 ** -24;
  if (exponent === 0x1f) return fraction ? NaN : sign * Infinity;
  return sign * (1 + fraction / 1024) * 2 ** (exponent - 15);
}

const f32 = new Float32Array(1);
const f32Bits = new Uint32Array(f32.buffer);

/**
 * A float32 value to IEEE 754 binary16 bits, rounding to nearest, ties to even; overflow gives
 * infinity, NaN stays a (quiet) NaN. A float64 argument is rounded to float32 first.
 */
export function floatToHalf(value: number): number {
  f32[0] = value;
  const x = f32Bits[0];
  const sign = (x >>> 16) & 0x8000;
  const exponent = (x >>> 23) & 0xff;
  const fraction = x & 0x7fffff;
  if (exponent === 0xff) return sign | 0x7c00 | (fraction ? 0x200 : 0);
  const e = exponent - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    // Subnormal half (or zero): shift the 24-bit significand down to units of 2^-24.
    if (e < -10) return sign;
    const significand = fraction | 0x800000;
    const shift = 14 - e;
    const rest = significand & ((1 << shift) - 1);
    const halfway = 1 << (shift - 1);
    let h = significand >>> shift;
    if (rest > halfway || (rest === halfway && h & 1)) h++;
    return sign | h;
  }
  // A carry out of the fraction correctly bumps the exponent (up to infinity).
  let h = (e << 10) | (fraction >>> 13);
  const rest = fraction & 0x1fff;
  if (rest > 0x1000 || (rest === 0x1000 && h & 1)) h++;
  return sign | h;
}

/** Little-endian binary16 bytes of float32 values (what fp16 adapters ship). */
export function halfBytes(values: Float32Array): Uint8Array {
  return new Uint8Array(Uint16Array.from(values, floatToHalf).buffer);
}

export interface TensorInput {
  readonly dtype: Dtype;
  readonly shape: readonly number[];
  /** Little-endian bytes of the tensor (e.g. `new Uint8Array(float32Array.buffer)`). */
  readonly bytes: Uint8Array;
}

/** Writes tensors in key order, the header padded with spaces to a multiple of 8 bytes. */
export function writeSafetensors(tensors: Record<string, TensorInput>, metadata?: Record<string, string>): Uint8Array {
  const header: Record<string, unknown> = {};
  let offset = 0;
  const names = Object.keys(tensors).sort();
  for (const name of names) {
    const t = tensors[name];
    const expected = t.shape.reduce((n, d) => n * d, 1) * ITEM_BYTES[t.dtype];
    if (t.bytes.byteLength !== expected)
      throw new SafetensorsError(
        `${name}: ${t.bytes.byteLength} bytes for shape [${t.shape}] of ${t.dtype}, expected ${expected}`,
        name,
      );
    header[name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + expected] };
    offset += expected;
  }
  if (metadata) header.__metadata__ = metadata;
  let json = JSON.stringify(header);
  json += " ".repeat((8 - (json.length % 8)) % 8);
  const headerBytes = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + headerBytes.byteLength + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerBytes.byteLength), true);
  out.set(headerBytes, 8);
  let at = 8 + headerBytes.byteLength;
  for (const name of names) {
    out.set(tensors[name].bytes, at);
    at += tensors[name].bytes.byteLength;
  }
  return out;
}
