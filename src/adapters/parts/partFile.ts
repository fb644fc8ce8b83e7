/**
 * A part's bytes on the wire and on the device (issue 21): an 8-byte little-endian header length,
 * a small JSON header naming the part (`format`, `version`, `kind`, `task`, `rank`, `dtype`),
 * padded with spaces so the tensors start 8-aligned, then per target module in the model
 * contract's order: A's data, A's fp16 scales, B^T's data, B^T's scales. Every size follows from
 * (rank, dtype, the contract's shapes), so the file carries no table of offsets to trust, and a
 * file of any other length is refused. The same bytes are what the Worker measures and what the
 * client materialises (./privatePart.ts).
 */
import type { LoraTarget } from "../factors";
import type { PrivatePart, StoredFactors } from "./privatePart";
import { PART_DTYPES, scaleBytes, storedBytes, type PartDtype, type StoredTensor } from "./quantize";

export const PART_FORMAT = "d2c-part";
const VERSION = 1;

interface Header {
  readonly format: typeof PART_FORMAT;
  readonly version: number;
  readonly kind: "private";
  readonly task: string;
  readonly rank: number;
  readonly dtype: PartDtype;
}

export class PartFileError extends Error {}


export function encodePart(part: PrivatePart, targets: readonly LoraTarget[]): Uint8Array {
  const header: Header = {
    format: PART_FORMAT,
    version: VERSION,
    kind: part.kind,
    task: part.task,
    rank: part.rank,
    dtype: part.dtype,
  };
  let json = JSON.stringify(header);
  json += " ".repeat((8 - (json.length % 8)) % 8);
  const headerBytes = new TextEncoder().encode(json);
  const tensors = targets.flatMap((t) => {
    const stored = part.modules.get(t.module)!;
    return [stored.a, stored.bT];
  });
  const out = new Uint8Array(
    8 + headerBytes.byteLength + tensors.reduce((n, t) => n + storedBytes(t.length, t.dtype), 0),
  );
  new DataView(out.buffer).setBigUint64(0, BigInt(headerBytes.byteLength), true);
  out.set(headerBytes, 8);
  let at = 8 + headerBytes.byteLength;
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
  if (bytes.byteLength < 8) throw new PartFileError("part: shorter than its 8-byte header length");
  const headerLength = Number(new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true));
  if (headerLength > bytes.byteLength - 8 || headerLength > 4096)
    throw new PartFileError(`part: header of ${headerLength} bytes in a file of ${bytes.byteLength}`);
  let header: Header;
  try {
    header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + headerLength))) as Header;
  } catch {
    throw new PartFileError("part: the header is not JSON");
  }
  if (header?.format !== PART_FORMAT || header.version !== VERSION)
    throw new PartFileError(`part: not a ${PART_FORMAT} version ${VERSION} file`);
  if (header.kind !== "private" || typeof header.task !== "string")
    throw new PartFileError("part: kind must be private, with a task");
  if (!PART_DTYPES.includes(header.dtype))
    throw new PartFileError(`part: dtype must be one of ${PART_DTYPES.join(", ")}`);
  if (!Number.isInteger(header.rank) || header.rank < 1 || header.rank > 4096)
    throw new PartFileError("part: rank must be a whole number from 1 to 4096");
  const { rank, dtype } = header;
  const expected =
    8 +
    headerLength +
    targets.reduce((n, t) => n + storedBytes(rank * t.in, dtype) + storedBytes(rank * t.out, dtype), 0);
  if (bytes.byteLength !== expected) {
    throw new PartFileError(
      `part: ${bytes.byteLength} bytes, a rank-${rank} ${dtype} part for these ${targets.length} modules ` +
        `has ${expected}`,
    );
  }
  let at = 8 + headerLength;
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
  return { kind: "private", task: header.task, rank, dtype, modules };
}
