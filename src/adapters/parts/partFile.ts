/**
 * A part's bytes on the wire and on the device (issue 21), laid out as safetensors is: an 8-byte
 * little-endian header length, a JSON header (padded with spaces to 8 bytes), then the tensors'
 * bytes. The header names the part (`kind`, `task`, `rank`, `dtype`) and, per tensor, its shape
 * and the byte ranges of its data and its fp16 block scales. The same bytes are what the Worker
 * measures and what the client materialises (./privatePart.ts).
 */
import type { LoraTarget } from "../factors";
import type { PrivatePart, StoredFactors } from "./privatePart";
import { BLOCK, PART_DTYPES, storedBytes, type PartDtype, type StoredTensor } from "./quantize";

export const PART_FORMAT = "d2c-part";
const VERSION = 1;

interface TensorEntry {
  readonly shape: readonly [number, number];
  readonly data: readonly [number, number];
  readonly scales: readonly [number, number];
}

interface Header {
  readonly format: typeof PART_FORMAT;
  readonly version: number;
  readonly kind: "private";
  readonly task: string;
  readonly rank: number;
  readonly dtype: PartDtype;
  readonly tensors: Readonly<Record<string, TensorEntry>>;
}

export class PartFileError extends Error {}

export function encodePart(part: PrivatePart, targets: readonly LoraTarget[]): Uint8Array {
  const tensors: Record<string, TensorEntry> = {};
  const chunks: Uint8Array[] = [];
  let offset = 0;
  const put = (bytes: Uint8Array): [number, number] => {
    chunks.push(bytes);
    offset += bytes.byteLength;
    return [offset - bytes.byteLength, offset];
  };
  for (const target of targets) {
    const stored = part.modules.get(target.module)!;
    for (const [name, t, cols] of [["lora_A", stored.a, target.in], ["lora_B_T", stored.bT, target.out]] as const) {
      tensors[`${target.module}.${name}`] = {
        shape: [part.rank, cols], data: put(t.data), scales: put(new Uint8Array(t.scales.buffer, t.scales.byteOffset, t.scales.byteLength)),
      };
    }
  }
  const header: Header = { format: PART_FORMAT, version: VERSION, kind: part.kind, task: part.task, rank: part.rank, dtype: part.dtype, tensors };
  let json = JSON.stringify(header);
  json += " ".repeat((8 - ((json.length + 8) % 8)) % 8);
  const headerBytes = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + headerBytes.byteLength + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerBytes.byteLength), true);
  out.set(headerBytes, 8);
  let at = 8 + headerBytes.byteLength;
  for (const chunk of chunks) {
    out.set(chunk, at);
    at += chunk.byteLength;
  }
  return out;
}

/** The part in `bytes`, checked against the model's targets: every shape, range and size must be exactly what its dtype stores. */
export function decodePart(bytes: Uint8Array, targets: readonly LoraTarget[]): PrivatePart {
  if (bytes.byteLength < 8) throw new PartFileError("part: shorter than its 8-byte header length");
  const headerLength = Number(new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true));
  if (headerLength > bytes.byteLength - 8) throw new PartFileError(`part: header of ${headerLength} bytes in a file of ${bytes.byteLength}`);
  let header: Header;
  try {
    header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + headerLength))) as Header;
  } catch {
    throw new PartFileError("part: the header is not JSON");
  }
  if (header?.format !== PART_FORMAT || header.version !== VERSION) throw new PartFileError(`part: not a ${PART_FORMAT} version ${VERSION} file`);
  if (header.kind !== "private" || typeof header.task !== "string") throw new PartFileError("part: kind must be private, with a task");
  if (!PART_DTYPES.includes(header.dtype)) throw new PartFileError(`part: dtype must be one of ${PART_DTYPES.join(", ")}`);
  if (!Number.isInteger(header.rank) || header.rank < 1) throw new PartFileError("part: rank must be a whole number >= 1");
  const body = bytes.subarray(8 + headerLength);
  const tensor = (name: string, cols: number): StoredTensor => {
    const entry = header.tensors?.[name];
    if (!entry) throw new PartFileError(`part: no tensor ${name}`);
    if (entry.shape?.[0] !== header.rank || entry.shape[1] !== cols) throw new PartFileError(`part: ${name} must be [${header.rank}, ${cols}]`);
    const length = header.rank * cols;
    const slice = ([start, end]: readonly [number, number], expected: number, what: string) => {
      if (!(Number.isInteger(start) && Number.isInteger(end) && start >= 0 && end - start === expected && end <= body.byteLength)) {
        throw new PartFileError(`part: ${name} ${what} must be ${expected} bytes inside the file`);
      }
      return body.slice(start, end);
    };
    const scaleBytes = header.dtype === "fp16" ? 0 : 2 * Math.ceil(length / BLOCK);
    const data = slice(entry.data, storedBytes(length, header.dtype) - scaleBytes, "data");
    const scales = slice(entry.scales, scaleBytes, "scales");
    return { dtype: header.dtype, length, data, scales: new Uint16Array(scales.buffer, scales.byteOffset, scales.byteLength / 2) };
  };
  const modules = new Map<string, StoredFactors>();
  for (const t of targets) modules.set(t.module, { a: tensor(`${t.module}.lora_A`, t.in), bT: tensor(`${t.module}.lora_B_T`, t.out) });
  return { kind: "private", task: header.task, rank: header.rank, dtype: header.dtype, modules };
}
