/**
 * Reading GGUF files, for the tests only (the Worker never reads one back): the inverse of
 * toGgufLora in src/delivery/gguf.ts, with bounds checks.
 */
import {
  GGUF_DEFAULT_ALIGNMENT,
  GGUF_MAGIC,
  GGUF_VERSION,
  GgmlType,
  GgufValueType,
  padded,
} from "../../src/delivery/gguf";

/** Bytes per element of the ggml types read here. */
export const ITEM_BYTES: Readonly<Record<number, number>> = {
  [GgmlType.F32]: 4,
  [GgmlType.F16]: 2,
  [GgmlType.BF16]: 2,
};

export type GgufValue = number | bigint | boolean | string | GgufValue[];

export interface GgufMetadataEntry {
  /** GgufValueType code; an ARRAY's items have `itemType`. */
  readonly type: number;
  readonly itemType?: number;
  /** 64-bit integers read as bigint, every other number as number. */
  readonly value: GgufValue;
}

export interface GgufTensor {
  readonly name: string;
  /** ne[], innermost first: a PyTorch [rows, cols] tensor has dims [cols, rows]. */
  readonly dims: readonly number[];
  /** GgmlType code. */
  readonly type: number;
  /** From the start of the data section, a multiple of the alignment. */
  readonly offset: number;
  /** Little-endian tensor bytes: a view into the file, not a copy. */
  readonly data: Uint8Array;
}

export interface GgufFile {
  readonly version: number;
  readonly alignment: number;
  /** In file order. */
  readonly metadata: ReadonlyMap<string, GgufMetadataEntry>;
  readonly tensors: readonly GgufTensor[];
  /** Where the data section starts in the file. */
  readonly dataOffset: number;
}

/**
 * Parses a GGUF file: header, metadata, tensor infos and views of the tensor data. Checks the
 * magic, version 3, that everything lies inside the file and that offsets honour the alignment;
 * tensors must be F32, F16 or BF16 (quantized types are refused by name).
 */
export function readGguf(bytes: Uint8Array): GgufFile {
  const r = new ByteReader(bytes);
  const magic = new TextDecoder().decode(r.bytes(4, "magic"));
  if (magic !== GGUF_MAGIC) throw new Error(`GGUF: magic is ${JSON.stringify(magic)}, expected "${GGUF_MAGIC}"`);
  const version = r.u32("version");
  if (version !== GGUF_VERSION) throw new Error(`GGUF: version ${version}, only ${GGUF_VERSION} is supported`);
  const tensorCount = r.u64("tensor count");
  const kvCount = r.u64("metadata count");
  const metadata = new Map<string, GgufMetadataEntry>();
  for (let i = 0; i < kvCount; i++) {
    const key = r.string(`metadata key ${i}`);
    if (metadata.has(key)) throw new Error(`GGUF: metadata key ${key} appears twice`);
    const type = r.u32(key);
    if (type === GgufValueType.ARRAY) {
      const itemType = r.u32(key);
      const n = r.u64(key);
      const value: GgufValue[] = [];
      for (let k = 0; k < n; k++) value.push(r.value(itemType, key));
      metadata.set(key, { type, itemType, value });
    } else {
      metadata.set(key, { type, value: r.value(type, key) });
    }
  }
  const alignment = metadata.get("general.alignment") ?? { type: GgufValueType.UINT32, value: GGUF_DEFAULT_ALIGNMENT };
  if (
    alignment.type !== GgufValueType.UINT32 ||
    typeof alignment.value !== "number" ||
    alignment.value <= 0 ||
    alignment.value & (alignment.value - 1)
  ) {
    throw new Error(`GGUF: general.alignment must be a uint32 power of two, got ${String(alignment.value)}`);
  }
  const align = alignment.value;
  const infos: Array<Omit<GgufTensor, "data"> & { nbytes: number }> = [];
  for (let i = 0; i < tensorCount; i++) {
    const name = r.string(`tensor ${i} name`);
    const nDims = r.u32(name);
    if (nDims < 1 || nDims > 4) throw new Error(`GGUF: ${name}: ${nDims} dimensions, ggml has 1 to 4`);
    const dims = Array.from({ length: nDims }, () => r.u64(name));
    const type = r.u32(name);
    if (!(type in ITEM_BYTES)) throw new Error(`GGUF: ${name}: ggml type ${type} is not F32, F16 or BF16`);
    const offset = r.u64(name);
    if (offset % align) throw new Error(`GGUF: ${name}: offset ${offset} is not a multiple of the alignment ${align}`);
    infos.push({ name, dims, type, offset, nbytes: dims.reduce((n, d) => n * d, ITEM_BYTES[type]) });
  }
  const dataOffset = padded(r.position, align);
  const tensors = infos.map(({ nbytes, ...t }) => {
    const start = dataOffset + t.offset;
    if (start + nbytes > bytes.byteLength) throw new Error(`GGUF: ${t.name}: data runs past the end of the file`);
    return { ...t, data: bytes.subarray(start, start + nbytes) };
  });
  return { version, alignment: align, metadata, tensors, dataOffset };
}

/** Little-endian reader that names what it was reading when the file ends. */
class ByteReader {
  private readonly view: DataView;
  position = 0;

  constructor(private readonly file: Uint8Array) {
    this.view = new DataView(file.buffer, file.byteOffset, file.byteLength);
  }

  private take(n: number, what: string): number {
    if (this.position + n > this.file.byteLength)
      throw new Error(`GGUF: file ends inside ${what} (byte ${this.position})`);
    const at = this.position;
    this.position += n;
    return at;
  }

  bytes(n: number, what: string): Uint8Array {
    const at = this.take(n, what);
    return this.file.subarray(at, at + n);
  }

  u32(what: string): number {
    return this.view.getUint32(this.take(4, what), true);
  }

  /** A u64 that must fit a JS number (counts, sizes, offsets). */
  u64(what: string): number {
    const v = this.view.getBigUint64(this.take(8, what), true);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new Error(`GGUF: ${what}: ${v} is too large`);
    return Number(v);
  }

  string(what: string): string {
    return new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(this.bytes(this.u64(what), what));
  }

  value(type: number, what: string): GgufValue {
    const v = this.view;
    switch (type) {
      case GgufValueType.UINT8:
        return v.getUint8(this.take(1, what));
      case GgufValueType.INT8:
        return v.getInt8(this.take(1, what));
      case GgufValueType.UINT16:
        return v.getUint16(this.take(2, what), true);
      case GgufValueType.INT16:
        return v.getInt16(this.take(2, what), true);
      case GgufValueType.UINT32:
        return v.getUint32(this.take(4, what), true);
      case GgufValueType.INT32:
        return v.getInt32(this.take(4, what), true);
      case GgufValueType.FLOAT32:
        return v.getFloat32(this.take(4, what), true);
      case GgufValueType.BOOL:
        return v.getUint8(this.take(1, what)) !== 0;
      case GgufValueType.STRING:
        return this.string(what);
      case GgufValueType.UINT64:
        return v.getBigUint64(this.take(8, what), true);
      case GgufValueType.INT64:
        return v.getBigInt64(this.take(8, what), true);
      case GgufValueType.FLOAT64:
        return v.getFloat64(this.take(8, what), true);
      default:
        throw new Error(
          `GGUF: ${what}: value type ${type} is not one GGUF ` +
            `defines${type === GgufValueType.ARRAY ? " inside an array" : ""}`,
        );
    }
  }
}
