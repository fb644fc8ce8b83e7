/**
 * What registration checks in every model's graph, whichever runtime will load it (the Worker's
 * onnxruntime-web or the evaluator service's onnxruntime-node): each tensor holds the bytes its
 * shape and type declare, and external data lives only in the plain-named files pushed beside
 * model.onnx. A runtime given a tensor declared [65536, 32768] over 20 KB, or an external-data
 * location `../../../../etc/passwd`, fails at best and reads outside the model at worst.
 */
import { DomainError, quoted } from "../errors";
import { TensorProto_DataType } from "./gen/onnx_pb";
import { scanOnnx, type ScannedGraph, type ScannedTensor } from "./tensorScan";

/** An external data file's name: plain, beside model.onnx, never a path. */
export const PLAIN_FILE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/;

/** Bits per element, by TensorProto.DataType (onnx.proto v1.22); STRING has none. */
const BITS: Partial<Record<TensorProto_DataType, number>> = {
  [TensorProto_DataType.FLOAT]: 32,
  [TensorProto_DataType.UINT8]: 8,
  [TensorProto_DataType.INT8]: 8,
  [TensorProto_DataType.UINT16]: 16,
  [TensorProto_DataType.INT16]: 16,
  [TensorProto_DataType.INT32]: 32,
  [TensorProto_DataType.INT64]: 64,
  [TensorProto_DataType.BOOL]: 8,
  [TensorProto_DataType.FLOAT16]: 16,
  [TensorProto_DataType.DOUBLE]: 64,
  [TensorProto_DataType.UINT32]: 32,
  [TensorProto_DataType.UINT64]: 64,
  [TensorProto_DataType.COMPLEX64]: 64,
  [TensorProto_DataType.COMPLEX128]: 128,
  [TensorProto_DataType.BFLOAT16]: 16,
  [TensorProto_DataType.FLOAT8E4M3FN]: 8,
  [TensorProto_DataType.FLOAT8E4M3FNUZ]: 8,
  [TensorProto_DataType.FLOAT8E5M2]: 8,
  [TensorProto_DataType.FLOAT8E5M2FNUZ]: 8,
  [TensorProto_DataType.UINT4]: 4,
  [TensorProto_DataType.INT4]: 4,
  [TensorProto_DataType.FLOAT4E2M1]: 4,
  [TensorProto_DataType.FLOAT8E8M0]: 8,
  [TensorProto_DataType.UINT2]: 2,
  [TensorProto_DataType.INT2]: 2,
};

const bad = (what: string) => new DomainError("invalid", "bad_onnx", `model.onnx: ${what}`);
const ceilDiv = (a: bigint, b: bigint) => (a + b - 1n) / b;

/**
 * Typed-field values a tensor of `n` elements holds (onnx.proto, TensorProto): complex numbers
 * take two, 4-bit types pack two elements per int32_data value, 2-bit types four.
 */
function typedValues(type: TensorProto_DataType, bits: number | undefined, n: bigint): bigint {
  if (type === TensorProto_DataType.COMPLEX64 || type === TensorProto_DataType.COMPLEX128) return 2n * n;
  if (bits !== undefined && bits < 8) return ceilDiv(n * BigInt(bits), 8n);
  return n;
}

/** An external_data offset or length: a decimal count of bytes. */
function byteCount(name: string, key: string, value: string): bigint {
  if (!/^[0-9]{1,19}$/.test(value)) throw bad(`${name} has external data ${key} ${quoted(value)}`);
  return BigInt(value);
}

function checkTensor(t: ScannedTensor, externalFiles: ReadonlyMap<string, number>): void {
  const name = `tensor ${quoted(t.name)}`;
  if (t.dims.some((d) => d < 0n)) throw bad(`${name} has a negative dimension [${t.dims.join(", ")}]`);
  const type = t.dataType as TensorProto_DataType;
  if (!(type in BITS) && type !== TensorProto_DataType.STRING)
    throw bad(`${name} has data type ${t.dataType}, which ONNX does not define`);
  const n = t.dims.reduce((a, b) => a * b, 1n);
  const bits = BITS[type];
  const bytes = bits === undefined ? null : ceilDiv(n * BigInt(bits), 8n);
  const declared = `[${t.dims.join(", ")}] ${TensorProto_DataType[type]}${bytes === null ? "" : ` (${bytes} bytes)`}`;
  if (t.dataLocation === 1) {
    const location = t.external.get("location") ?? "";
    if (!PLAIN_FILE.test(location) || !externalFiles.has(location)) {
      throw bad(
        `${name} is stored in external file ${quoted(location)}, which is not a file pushed with this model` +
          " (external data files are plain names beside model.onnx, pushed with `npx d2c-edge model push` " +
          "and listed in model.json)",
      );
    }
    if (bytes === null) throw bad(`${name} is a STRING tensor in external data`);
    const offset = byteCount(name, "offset", t.external.get("offset") ?? "0");
    const length = t.external.has("length") ? byteCount(name, "length", t.external.get("length")!) : bytes;
    if (length !== bytes) throw bad(`${name} is ${declared} but its external data length is ${length}`);
    if (offset + bytes > BigInt(externalFiles.get(location)!)) {
      throw bad(
        `${name} is ${declared} at offset ${offset} of ${location}, which has ${externalFiles.get(location)} bytes`,
      );
    }
    return;
  }
  if (t.dataLocation !== 0) throw bad(`${name} has data location ${t.dataLocation}`);
  if (t.rawBytes !== null) {
    if (bytes === null || BigInt(t.rawBytes) !== bytes)
      throw bad(`${name} is ${declared} but holds ${t.rawBytes} bytes`);
    return;
  }
  const values = typedValues(type, bits, n);
  if (BigInt(t.typedCount) !== values)
    throw bad(`${name} is ${declared} but holds ${t.typedCount} values (expected ${values})`);
}

/**
 * Checks every tensor of an ONNX file (bytes, or a stream from R2) against its declared shape and
 * data location; `externalFiles` maps each external data file pushed with the model to its size.
 * Returns the main graph's input and output names.
 */
export function checkGraph(
  source: Uint8Array | ReadableStream<Uint8Array>,
  externalFiles: ReadonlyMap<string, number> = new Map(),
): Promise<ScannedGraph> {
  return scanOnnx(source, (t) => checkTensor(t, externalFiles));
}
