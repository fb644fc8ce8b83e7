/**
 * ONNX Runtime's `.onnx_adapter` file (loaded on a phone by `OrtLoraAdapter` / `ort.LoraAdapter`
 * and activated per run), written and read with the flatbuffers runtime by hand: no flatc here.
 *
 * Schema: onnxruntime/lora/adapter_format/adapter_schema.fbs, namespace onnxruntime.adapters,
 * file identifier "TORT", root `Adapter`. Field index = vtable slot, in declaration order:
 *   table Adapter   { format_version:int; adapter_version:int; model_version:int; parameters:[Parameter]; }
 *   table Parameter { name:string; dims:[int64]; data_type:TensorDataType (int32 enum, ONNX's
 *                     TensorProto codes); raw_data:[uint8] (force_align: 8); }
 * ONNX Runtime accepts format_version 1 only (adapter_format_version.h) and builds each tensor
 * in place over raw_data, so the bytes must be little-endian and aligned.
 */
import { Builder, ByteBuffer } from "flatbuffers";
import type { AdapterFactors, LoraTarget } from "../adapters/factors";
import { halfBytes } from "../adapters/safetensors";

export const ONNX_ADAPTER_IDENTIFIER = "TORT";
export const ONNX_ADAPTER_FORMAT_VERSION = 1;

/** ONNX TensorProto.DataType codes used here (the schema's TensorDataType repeats them). */
export const OnnxDataType = { FLOAT: 1, FLOAT16: 10 } as const;

export interface OnnxAdapterOptions {
  /**
   * Element type of every parameter: fp32 is bit-exact; fp16 halves the download but fits only a
   * model whose LoRA inputs are float16 (ONNX Runtime does not convert: a float32 input, as the
   * model contract has, fails the run with "Unexpected input data type").
   */
  readonly dtype: "fp32" | "fp16";
  /** The base model's version this adapter was built for (int32, default 0; ORT does not check it). */
  readonly modelVersion?: number;
  /** The adapter's own version (int32, default 0). */
  readonly adapterVersion?: number;
}

export interface OnnxAdapterParameter {
  readonly name: string;
  readonly dims: readonly number[];
  /** ONNX TensorProto.DataType code, e.g. OnnxDataType.FLOAT16. */
  readonly dataType: number;
  /** Little-endian tensor bytes: a view into the file, not a copy. */
  readonly raw: Uint8Array;
}

export interface OnnxAdapter {
  readonly formatVersion: number;
  readonly adapterVersion: number;
  readonly modelVersion: number;
  readonly parameters: readonly OnnxAdapterParameter[];
}

// Vtable slots (field indices) of the two tables.
const ADAPTER = { formatVersion: 0, adapterVersion: 1, modelVersion: 2, parameters: 3 } as const;
const PARAMETER = { name: 0, dims: 1, dataType: 2, rawData: 3 } as const;

/**
 * One parameter per graph input, in the order of `targets`: `<module>.lora_A` [rank, in] and
 * `<module>.lora_B` [out, rank], the names the model contract gives its inputs. B already holds
 * the scaling, which is right: the format has no alpha.
 */
export function toOnnxAdapter(factors: AdapterFactors, targets: readonly LoraTarget[], options: OnnxAdapterOptions): Uint8Array {
  const modelVersion = int32(options.modelVersion ?? 0, "modelVersion");
  const adapterVersion = int32(options.adapterVersion ?? 0, "adapterVersion");
  const known = new Set(targets.map((t) => t.module));
  for (const module of factors.keys()) {
    if (!known.has(module)) throw new Error(`${module}: not a LoRA target of the model (no graph input takes it)`);
  }
  const tensors: Array<{ name: string; dims: number[]; values: Float32Array }> = [];
  for (const target of targets) {
    const f = factors.get(target.module);
    if (!f) throw new Error(`${target.module}: no factors; every LoRA target of the model needs its inputs`);
    if (f.a.length !== f.rank * target.in) throw new Error(`${target.module}.lora_A: ${f.a.length} values, expected [${f.rank}, ${target.in}]`);
    if (f.b.length !== target.out * f.rank) throw new Error(`${target.module}.lora_B: ${f.b.length} values, expected [${target.out}, ${f.rank}]`);
    tensors.push({ name: `${target.module}.lora_A`, dims: [f.rank, target.in], values: f.a });
    tensors.push({ name: `${target.module}.lora_B`, dims: [target.out, f.rank], values: f.b });
  }

  const itemBytes = options.dtype === "fp16" ? 2 : 4;
  const builder = new Builder(1024 + tensors.reduce((n, t) => n + t.values.length * itemBytes + 128, 0));
  // Flatbuffers builds back to front: children (strings, vectors) before the table that points to them.
  const parameters = tensors.map(({ name, dims, values }) => {
    const nameOffset = builder.createString(name);
    builder.startVector(8, dims.length, 8); // int64 elements, so 8-aligned
    for (let i = dims.length - 1; i >= 0; i--) builder.addInt64(BigInt(dims[i]));
    const dimsOffset = builder.endVector();
    // force_align: 8 — padding so the data (not its length prefix) starts 8-aligned, like flatc's
    // ForceVectorAlignment; createByteVector's own prep then adds nothing.
    // Typed arrays are little-endian on every platform we run on, as the format wants.
    const raw = options.dtype === "fp16"
      ? halfBytes(values)
      : new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
    builder.prep(8, raw.byteLength);
    const rawOffset = builder.createByteVector(raw);
    builder.startObject(4);
    builder.addFieldOffset(PARAMETER.name, nameOffset, 0);
    builder.addFieldOffset(PARAMETER.dims, dimsOffset, 0);
    builder.addFieldInt32(PARAMETER.dataType, options.dtype === "fp16" ? OnnxDataType.FLOAT16 : OnnxDataType.FLOAT, 0);
    builder.addFieldOffset(PARAMETER.rawData, rawOffset, 0);
    return builder.endObject();
  });
  builder.startVector(4, parameters.length, 4); // uoffsets to the Parameter tables
  for (let i = parameters.length - 1; i >= 0; i--) builder.addOffset(parameters[i]);
  const parametersOffset = builder.endVector();
  builder.startObject(4);
  builder.addFieldInt32(ADAPTER.formatVersion, ONNX_ADAPTER_FORMAT_VERSION, 0);
  builder.addFieldInt32(ADAPTER.adapterVersion, adapterVersion, 0);
  builder.addFieldInt32(ADAPTER.modelVersion, modelVersion, 0);
  builder.addFieldOffset(ADAPTER.parameters, parametersOffset, 0);
  builder.finish(builder.endObject(), ONNX_ADAPTER_IDENTIFIER);
  // A copy: the builder's buffer is larger than the file and starts with free space.
  return builder.asUint8Array().slice();
}

/**
 * Parses an `.onnx_adapter` file. Checks what ONNX Runtime checks before use (identifier,
 * format version) and that every vector lies inside the file; parameter values are not decoded.
 */
export function readOnnxAdapter(bytes: Uint8Array): OnnxAdapter {
  if (bytes.byteLength < 8) throw new Error(`.onnx_adapter: ${bytes.byteLength} bytes, too short for a flatbuffer`);
  const bb = new ByteBuffer(bytes);
  if (!bb.__has_identifier(ONNX_ADAPTER_IDENTIFIER)) {
    throw new Error(`.onnx_adapter: file identifier is ${JSON.stringify(bb.getBufferIdentifier())}, expected "${ONNX_ADAPTER_IDENTIFIER}"`);
  }
  const root = table(bb, 0, "root table");
  const formatVersion = scalarInt32(bb, root, ADAPTER.formatVersion);
  if (formatVersion !== ONNX_ADAPTER_FORMAT_VERSION) {
    throw new Error(`.onnx_adapter: format version ${formatVersion}, only ${ONNX_ADAPTER_FORMAT_VERSION} is supported`);
  }
  const list = vector(bb, root, ADAPTER.parameters, 4, "parameters");
  const parameters: OnnxAdapterParameter[] = [];
  for (let i = 0; i < list.length; i++) {
    const what = `parameter ${i}`;
    const parameter = table(bb, list.start + 4 * i, what);
    const name = vector(bb, parameter, PARAMETER.name, 1, `${what} name`);
    const label = name.length ? new TextDecoder().decode(bytes.subarray(name.start, name.start + name.length)) : "";
    const dims = vector(bb, parameter, PARAMETER.dims, 8, `${label || what} dims`);
    const raw = vector(bb, parameter, PARAMETER.rawData, 1, `${label || what} raw_data`);
    parameters.push({
      name: label,
      dims: Array.from({ length: dims.length }, (_, d) => Number(bb.readInt64(dims.start + 8 * d))),
      dataType: scalarInt32(bb, parameter, PARAMETER.dataType),
      raw: bytes.subarray(raw.start, raw.start + raw.length),
    });
  }
  return {
    formatVersion,
    adapterVersion: scalarInt32(bb, root, ADAPTER.adapterVersion),
    modelVersion: scalarInt32(bb, root, ADAPTER.modelVersion),
    parameters,
  };
}

function int32(value: number, name: string): number {
  if (!Number.isInteger(value) || value < -(2 ** 31) || value >= 2 ** 31) throw new Error(`${name} must be an int32, got ${value}`);
  return value;
}

/**
 * The table that the offset at `at` points to, with its vtable inside the file: the flatbuffers
 * runtime has no verifier and reads past the end as zeros, so a cut file would parse as empty.
 */
function table(bb: ByteBuffer, at: number, what: string): number {
  const pos = bb.__indirect(at);
  const vtable = pos + 4 <= bb.capacity() ? pos - bb.readInt32(pos) : -1;
  const cap = bb.capacity();
  // A vtable holds its own size, then the table's inline size, then the field offsets.
  if (vtable < 0 || vtable + 4 > cap || vtable + bb.readUint16(vtable) > cap || pos + bb.readUint16(vtable + 2) > cap) {
    throw new Error(`.onnx_adapter: ${what} lies outside the file`);
  }
  return pos;
}

/** An absent scalar field reads as its default, 0 for every field of this schema. */
function scalarInt32(bb: ByteBuffer, table: number, slot: number): number {
  const at = bb.__offset(table, 4 + 2 * slot);
  return at ? bb.readInt32(table + at) : 0;
}

/** Start and element count of a vector (or string) field; an absent one is empty. */
function vector(bb: ByteBuffer, table: number, slot: number, elementBytes: number, what: string): { start: number; length: number } {
  const at = bb.__offset(table, 4 + 2 * slot);
  if (!at) return { start: 0, length: 0 };
  const start = bb.__vector(table + at);
  const length = start <= bb.capacity() ? bb.__vector_len(table + at) : Infinity;
  if (start + length * elementBytes > bb.capacity()) throw new Error(`.onnx_adapter: ${what} runs past the end of the file`);
  return { start, length };
}
