/**
 * A streaming walk over an ONNX file's protobuf that reports every tensor it holds (initializers,
 * Constant values, attribute tensors, sparse tensors, nested graphs and functions included) and
 * the main graph's input and output names, without holding the file: raw_data is counted and
 * skipped. Registration checks a model with it whatever its size (a pushed model.onnx of a few GB
 * is read from R2 as a stream); in-memory bytes go through the same walk. Pure: no bindings.
 */
import { DomainError } from "../errors";

/** What a TensorProto says about its data; the bytes themselves are never read. */
export interface ScannedTensor {
  name: string;
  dims: bigint[];
  dataType: number;
  /** TensorProto.DataLocation: 0 in the file, 1 external. */
  dataLocation: number;
  /** external_data entries (location, offset, length, checksum). */
  external: Map<string, string>;
  /** Length of raw_data, or null when absent. */
  rawBytes: number | null;
  /** Elements in the typed fields (float_data, int32_data, string_data, ...). */
  typedCount: number;
}

export interface ScannedGraph {
  readonly inputs: string[];
  readonly outputs: string[];
}

/** Names and keys longer than this are refused rather than held (ONNX names are short). */
const MAX_STRING = 64 << 10;
/** Graphs nested in attributes (If, Loop, Scan), at most this deep. */
const MAX_DEPTH = 32;
/** Inputs and outputs of the main graph kept, at most (a decoder with LoRA inputs has a few hundred). */
const MAX_VALUES = 1 << 16;

const notOnnx = (why: string) => new DomainError("invalid", "not_onnx", `not an ONNX model: ${why}`);

/** Bytes from a stream or a buffer, read forward only. */
class WireReader {
  private chunk: Uint8Array = new Uint8Array(0);
  private at = 0;
  private consumed = 0;
  private readonly next: () => Promise<Uint8Array | null>;
  /** Stops reading a stream the walk gave up on. */
  readonly cancel: () => Promise<void>;

  constructor(source: Uint8Array | ReadableStream<Uint8Array>) {
    if (source instanceof Uint8Array) {
      let pending: Uint8Array | null = source;
      this.next = async () => {
        const chunk = pending;
        pending = null;
        return chunk;
      };
      this.cancel = async () => {};
    } else {
      const reader = source.getReader();
      this.next = async () => {
        const { done, value } = await reader.read();
        return done ? null : value;
      };
      this.cancel = () => reader.cancel().catch(() => {});
    }
  }

  get position(): number {
    return this.consumed + this.at;
  }

  /** False at the end of the input. */
  async more(): Promise<boolean> {
    while (this.at === this.chunk.length) {
      const chunk = await this.next();
      if (!chunk) return false;
      this.consumed += this.chunk.length;
      this.chunk = chunk;
      this.at = 0;
    }
    return true;
  }

  async byte(): Promise<number> {
    if (!(await this.more())) throw notOnnx("the protobuf ends inside a field");
    return this.chunk[this.at++];
  }

  async varint(): Promise<bigint> {
    let value = 0n;
    for (let shift = 0n; shift < 70n; shift += 7n) {
      const b = await this.byte();
      value |= BigInt(b & 0x7f) << shift;
      if (b < 0x80) return BigInt.asUintN(64, value);
    }
    throw notOnnx("a varint longer than 10 bytes");
  }

  async length(): Promise<number> {
    const n = await this.varint();
    if (n > BigInt(Number.MAX_SAFE_INTEGER)) throw notOnnx("a field longer than the file");
    return Number(n);
  }

  /** The next `n` bytes, a chunk's slice at a time (views, valid only during the call). */
  async pass(n: number, each: (slice: Uint8Array) => void = () => {}): Promise<void> {
    while (n > 0) {
      if (!(await this.more())) throw notOnnx("the protobuf ends inside a field");
      const k = Math.min(n, this.chunk.length - this.at);
      each(this.chunk.subarray(this.at, this.at + k));
      this.at += k;
      n -= k;
    }
  }

  async text(n: number): Promise<string> {
    if (n > MAX_STRING)
      throw new DomainError("invalid", "bad_onnx", `model.onnx: a name or key of ${n} bytes (at most ${MAX_STRING})`);
    const out = new Uint8Array(n);
    let at = 0;
    await this.pass(n, (slice) => {
      out.set(slice, at);
      at += slice.length;
    });
    return new TextDecoder().decode(out);
  }
}

/** One field of a message: its number, wire type, and (varints) value or (length-delimited) end position. */
type Field =
  | { no: number; wire: 0; value: bigint }
  | { no: number; wire: 2; end: number }
  | { no: number; wire: 1 | 5 };
/** Reads what it needs of a field; the walk skips whatever of a length-delimited field it leaves. */
type Visit = (f: Field) => Promise<void>;

async function message(r: WireReader, end: number, visit: Visit): Promise<void> {
  while (end === Infinity ? await r.more() : r.position < end) {
    const tag = await r.varint();
    const no = Number(tag >> 3n);
    const wire = Number(tag & 7n);
    if (wire === 0) {
      await visit({ no, wire, value: await r.varint() });
    } else if (wire === 2) {
      const length = await r.length();
      const fieldEnd = r.position + length;
      if (fieldEnd > end) throw notOnnx(`field ${no} runs past its message`);
      await visit({ no, wire, end: fieldEnd });
      if (r.position < fieldEnd) await r.pass(fieldEnd - r.position);
      if (r.position !== fieldEnd) throw notOnnx(`field ${no} does not end where its length says`);
    } else if (wire === 1 || wire === 5) {
      await visit({ no, wire });
      await r.pass(wire === 1 ? 8 : 4);
    } else {
      throw notOnnx(`wire type ${wire} (field ${no})`);
    }
  }
  if (end !== Infinity && r.position !== end) throw notOnnx("a message does not end where its length says");
}

/** Varints in a packed field, counted without decoding. */
async function packedVarints(r: WireReader, end: number): Promise<number> {
  let count = 0;
  await r.pass(end - r.position, (slice) => {
    for (const b of slice) if (b < 0x80) count++;
  });
  return count;
}

async function tensor(r: WireReader, end: number, onTensor: (t: ScannedTensor) => void): Promise<void> {
  const t: ScannedTensor = {
    name: "",
    dims: [],
    dataType: 0,
    dataLocation: 0,
    external: new Map(),
    rawBytes: null,
    typedCount: 0,
  };
  await message(r, end, async (f) => {
    if (f.wire === 0) {
      if (f.no === 1) t.dims.push(BigInt.asIntN(64, f.value));
      else if (f.no === 2) t.dataType = Number(f.value);
      else if (f.no === 14) t.dataLocation = Number(f.value);
      else if (f.no === 5 || f.no === 7 || f.no === 11) t.typedCount++;
      return;
    }
    if (f.wire !== 2) {
      // float_data (fixed32) and double_data (fixed64), one element per field.
      if (f.no === 4 || f.no === 10) t.typedCount++;
      return;
    }
    const length = f.end - r.position;
    if (f.no === 9) t.rawBytes = length;
    else if (f.no === 4 || f.no === 10) t.typedCount += length / (f.no === 4 ? 4 : 8);
    else if (f.no === 6) t.typedCount++;
    else if (f.no === 1) while (r.position < f.end) t.dims.push(BigInt.asIntN(64, await r.varint()));
    else if (f.no === 5 || f.no === 7 || f.no === 11) t.typedCount += await packedVarints(r, f.end);
    else if (f.no === 8) t.name = await r.text(length);
    else if (f.no === 13) t.external.set(...(await stringEntry(r, f.end)));
    // raw_data, float/double/string data and the rest: left for the walk to skip.
  });
  onTensor(t);
}

/** StringStringEntryProto: 1 key, 2 value. */
async function stringEntry(r: WireReader, end: number): Promise<[string, string]> {
  const entry: [string, string] = ["", ""];
  await message(r, end, async (e) => {
    if (e.wire !== 2 || (e.no !== 1 && e.no !== 2)) return;
    entry[e.no - 1] = await r.text(e.end - r.position);
  });
  return entry;
}

type Walk = { r: WireReader; onTensor: (t: ScannedTensor) => void; depth: number };

async function sparseTensor(w: Walk, end: number): Promise<void> {
  await message(w.r, end, async (f) => {
    if (f.wire !== 2 || (f.no !== 1 && f.no !== 2)) return;
    await tensor(w.r, f.end, w.onTensor);
  });
}

async function attribute(w: Walk, end: number): Promise<void> {
  await message(w.r, end, async (f) => {
    if (f.wire !== 2) return;
    if (f.no === 5 || f.no === 10) await tensor(w.r, f.end, w.onTensor);
    else if (f.no === 6 || f.no === 11) await graph({ ...w, depth: w.depth + 1 }, f.end);
    else if (f.no === 22 || f.no === 23) await sparseTensor(w, f.end);
  });
}

/** NodeProto: 5 = attribute. */
async function node(w: Walk, end: number): Promise<void> {
  await message(w.r, end, async (f) => {
    if (f.wire !== 2 || f.no !== 5) return;
    await attribute(w, f.end);
  });
}

async function valueName(r: WireReader, end: number): Promise<string> {
  let name = "";
  await message(r, end, async (f) => {
    if (f.wire !== 2 || f.no !== 1) return;
    name = await r.text(f.end - r.position);
  });
  return name;
}

async function graph(
  w: Walk,
  end: number,
  top?: { inputs: string[]; outputs: string[]; nodes: number },
): Promise<void> {
  if (w.depth > MAX_DEPTH)
    throw new DomainError("invalid", "bad_onnx", `model.onnx: graphs nested more than ${MAX_DEPTH} deep`);
  await message(w.r, end, async (f) => {
    if (f.wire !== 2) return;
    if (f.no === 1) {
      if (top) top.nodes++;
      await node(w, f.end);
    } else if (f.no === 5) await tensor(w.r, f.end, w.onTensor);
    else if (f.no === 15) await sparseTensor(w, f.end);
    else if (top && (f.no === 11 || f.no === 12)) {
      const names = f.no === 11 ? top.inputs : top.outputs;
      if (names.length === MAX_VALUES)
        throw new DomainError("invalid", "bad_onnx", `model.onnx: more than ${MAX_VALUES} graph inputs or outputs`);
      names.push(await valueName(w.r, f.end));
    }
  });
}

async function functionProto(w: Walk, end: number): Promise<void> {
  await message(w.r, end, async (f) => {
    if (f.wire !== 2 || (f.no !== 7 && f.no !== 11)) return;
    if (f.no === 7) await node(w, f.end);
    else await attribute(w, f.end);
  });
}

/**
 * Walks a ModelProto (field 1 ir_version, 7 graph, 8 opset_import, 25 functions), calling
 * `onTensor` for each tensor as it is read; refuses what is not an ONNX model with a graph.
 */
export async function scanOnnx(
  source: Uint8Array | ReadableStream<Uint8Array>,
  onTensor: (t: ScannedTensor) => void,
): Promise<ScannedGraph> {
  const w: Walk = { r: new WireReader(source), onTensor, depth: 0 };
  const top = { inputs: [] as string[], outputs: [] as string[], nodes: 0 };
  let irVersion = 0n;
  let opsets = 0;
  let graphs = 0;
  await message(w.r, Infinity, async (f) => {
    if (f.no === 1 && f.wire === 0) irVersion = f.value;
    if (f.wire !== 2) return;
    if (f.no === 8) opsets++;
    else if (f.no === 7) {
      graphs++;
      await graph(w, f.end, top);
    } else if (f.no === 25) {
      await functionProto(w, f.end);
    }
  }).catch(async (e: unknown) => {
    await w.r.cancel();
    throw e;
  });
  // Arbitrary bytes can parse as some protobuf; an ONNX model has an IR version, an opset and a graph of nodes.
  if (irVersion <= 0n || opsets === 0 || graphs !== 1 || top.nodes === 0)
    throw notOnnx("no IR version, opset import or graph nodes");
  return { inputs: top.inputs, outputs: top.outputs };
}
