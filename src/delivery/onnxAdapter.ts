/**
 * ONNX Runtime's `.onnx_adapter` file (loaded on a phone by `OrtLoraAdapter` / `ort.LoraAdapter`
 * and activated per run), written with the flatbuffers runtime by hand: no flatc here. Writing
 * only: the tests read files back with test/readers/onnxAdapter.ts.
 *
 * Schema: onnxruntime/lora/adapter_format/adapter_schema.fbs, namespace onnxruntime.adapters,
 * file identifier "TORT", root `Adapter`. Field index = vtable slot, in declaration order:
 *   table Adapter   { format_version:int; adapter_version:int; model_version:int; parameters:[Parameter]; }
 *   table Parameter { name:string; dims:[int64]; data_type:TensorDataType (int32 enum, ONNX's
 *                     TensorProto codes); raw_data:[uint8] (force_align: 8); }
 * ONNX Runtime accepts format_version 1 only (adapter_format_version.h) and builds each tensor
 * in place over raw_data, so the bytes must be little-endian and aligned.
 */
import { Builder } from "flatbuffers";
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

/** Vtable slots (field indices) of the two tables. */
export const ADAPTER = { formatVersion: 0, adapterVersion: 1, modelVersion: 2, parameters: 3 } as const;
export const PARAMETER = { name: 0, dims: 1, dataType: 2, rawData: 3 } as const;

/**
 * One parameter per graph input, in the order of `targets`: `<module>.lora_A` [rank, in] and
 * `<module>.lora_B` [out, rank], the names the model contract gives its inputs. B already holds
 * the scaling, which is right: the format has no alpha.
 */
export function toOnnxAdapter(
  factors: AdapterFactors,
  targets: readonly LoraTarget[],
  options: OnnxAdapterOptions,
): Uint8Array {
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
    if (f.a.length !== f.rank * target.in)
      throw new Error(`${target.module}.lora_A: ${f.a.length} values, expected [${f.rank}, ${target.in}]`);
    if (f.b.length !== target.out * f.rank)
      throw new Error(`${target.module}.lora_B: ${f.b.length} values, expected [${target.out}, ${f.rank}]`);
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
    const raw =
      options.dtype === "fp16"
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

function int32(value: number, name: string): number {
  if (!Number.isInteger(value) || value < -(2 ** 31) || value >= 2 ** 31)
    throw new Error(`${name} must be an int32, got ${value}`);
  return value;
}
