/**
 * A part's bytes on the wire and on the device (issue 21). A header of 10 bytes plus the task id:
 * the magic "D2CP", the format version (u8), the kind (u8, 1: private), the dtype (u8, its index
 * in PART_DTYPES_ON_DISK), the task id's length in bytes (u8), the rank (u16 LE), the task id
 * (UTF-8). Then per target module in the model contract's order: A's data, A's fp16 scales, B^T's
 * data, B^T's scales. Every size follows from (rank, dtype, the contract's shapes), so the file
 * carries no table of offsets to trust, and a file of any other length is refused. The header is
 * binary because a phone's bytes are the point: a JSON one was 104 bytes, 5% of a rank-1 nf3
 * part. The same bytes are what the Worker measures and what the client materialises
 * (./privatePart.ts).
 */
import type { LoraTarget } from "../factors";
import type { PrivatePart, StoredFactors } from "./privatePart";
import { scaleBytes, storedBytes, type PartDtype, type StoredTensor } from "./quantize";

const MAGIC = [0x44, 0x32, 0x43, 0x50]; // "D2CP"
const VERSION = 2;
const PRIVATE = 1;
/** A dtype's code in the header: its index here, fixed forever (append only). */
const PART_DTYPES_ON_DISK: readonly PartDtype[] = ["fp16", "int8", "int4", "nf3"];
const FIXED = 10;

export class PartFileError extends Error {}

/** Bytes of a part file's header for `task`: what a part costs beyond its tensors. */
export const partHeaderBytes = (task: string) => FIXED + new TextEncoder().encode(task).byteLength;

export function encodePart(part: PrivatePart, targets: readonly LoraTarget[]): Uint8Array {
  const task = new TextEncoder().encode(part.task);
  if (task.byteLength > 255) throw new RangeError(`task id ${part.task} is over 255 bytes`);
  if (part.rank > 0xffff) throw new RangeError(`rank ${part.rank} is over 65535`);
  const tensors = targets.flatMap((t) => {
    const stored = part.modules.get(t.module)!;
    return [stored.a, stored.bT];
  });
  const out = new Uint8Array(FIXED + task.byteLength + tensors.reduce((n, t) => n + storedBytes(t.length, t.dtype), 0));
  out.set(MAGIC, 0);
  out.set([VERSION, PRIVATE, PART_DTYPES_ON_DISK.indexOf(part.dtype), task.byteLength], 4);
  new DataView(out.buffer).setUint16(8, part.rank, true);
  out.set(task, FIXED);
  let at = FIXED + task.byteLength;
  for (const t of tensors) {
    out.set(t.data, at);
    at += t.data.byteLength;
    out.set(new Uint8Array(t.scales.buffer, t.scales.byteOffset, t.scales.byteLength), at);
    at += t.scales.byteLength;
  }
  return out;
}

/** The part in `bytes`, for the model's targets: its length must be exactly what its rank and dtype store. */
export function decodePart(bytes: Uint8Array, targets: readonly LoraTarget[]): PrivatePart {
  if (bytes.byteLength < FIXED || MAGIC.some((b, i) => bytes[i] !== b))
    throw new PartFileError("part: not a d2c part file");
  if (bytes[4] !== VERSION) throw new PartFileError(`part: version ${bytes[4]}, this reader knows ${VERSION}`);
  if (bytes[5] !== PRIVATE) throw new PartFileError("part: kind must be private");
  const dtype = PART_DTYPES_ON_DISK[bytes[6]];
  if (!dtype) throw new PartFileError(`part: dtype code ${bytes[6]} is none of ${PART_DTYPES_ON_DISK.join(", ")}`);
  const rank = new DataView(bytes.buffer, bytes.byteOffset, FIXED).getUint16(8, true);
  if (rank < 1) throw new PartFileError("part: rank must be at least 1");
  const headerLength = FIXED + bytes[7];
  let task: string;
  try {
    task = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(bytes.subarray(FIXED, headerLength));
  } catch {
    throw new PartFileError("part: the task id is not UTF-8");
  }
  const expected =
    headerLength + targets.reduce((n, t) => n + storedBytes(rank * t.in, dtype) + storedBytes(rank * t.out, dtype), 0);
  if (bytes.byteLength !== expected) {
    throw new PartFileError(
      `part: ${bytes.byteLength} bytes, a rank-${rank} ${dtype} part for these ${targets.length} modules ` +
        `has ${expected}`,
    );
  }
  let at = headerLength;
  const take = (length: number): StoredTensor => {
    const data = bytes.slice(at, (at += storedBytes(length, dtype) - scaleBytes(length, dtype)));
    const scales = bytes.slice(at, (at += scaleBytes(length, dtype)));
    return { dtype, length, data, scales: new Uint16Array(scales.buffer, 0, scales.byteLength / 2) };
  };
  const modules = new Map<string, StoredFactors>();
  for (const t of targets) {
    const a = take(rank * t.in);
    modules.set(t.module, { a, bT: take(rank * t.out) });
  }
  return { kind: "private", task, rank, dtype, modules };
}
