/**
 * Reading `.onnx_adapter` files, for the tests only (the Worker never reads one back): the
 * inverse of toOnnxAdapter in src/delivery/onnxAdapter.ts, schema and slots as stated there.
 */
import { ByteBuffer } from "flatbuffers";
import {
  ADAPTER,
  ONNX_ADAPTER_FORMAT_VERSION,
  ONNX_ADAPTER_IDENTIFIER,
  PARAMETER,
} from "../../src/delivery/onnxAdapter";

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

/**
 * Parses an `.onnx_adapter` file. Checks what ONNX Runtime checks before use (identifier,
 * format version) and that every vector lies inside the file; parameter values are not decoded.
 */
export function readOnnxAdapter(bytes: Uint8Array): OnnxAdapter {
  if (bytes.byteLength < 8) throw new Error(`.onnx_adapter: ${bytes.byteLength} bytes, too short for a flatbuffer`);
  const bb = new ByteBuffer(bytes);
  if (!bb.__has_identifier(ONNX_ADAPTER_IDENTIFIER)) {
    throw new Error(
      `.onnx_adapter: file identifier is ${JSON.stringify(bb.getBufferIdentifier())}, expected ` +
        `"${ONNX_ADAPTER_IDENTIFIER}"`,
    );
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
function vector(
  bb: ByteBuffer,
  table: number,
  slot: number,
  elementBytes: number,
  what: string,
): { start: number; length: number } {
  const at = bb.__offset(table, 4 + 2 * slot);
  if (!at) return { start: 0, length: 0 };
  const start = bb.__vector(table + at);
  const length = start <= bb.capacity() ? bb.__vector_len(table + at) : Infinity;
  if (start + length * elementBytes > bb.capacity())
    throw new Error(`.onnx_adapter: ${what} runs past the end of the file`);
  return { start, length };
}
