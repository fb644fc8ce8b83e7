/**
 * Reading and writing ONNX models with @bufbuild/protobuf over the code generated from onnx.proto
 * (src/models/gen/, onnx v1.22.0), and the few graph look-ups the LoRA surgery needs. Pure: no
 * Cloudflare bindings, so the same code runs in workerd and in Node (the CLI, on big models).
 *
 * Memory: parsing keeps every initializer's raw_data as a view into the input bytes (no copy);
 * writing copies each raw_data once, straight into the one output buffer (see `writeModel`).
 */
import { BinaryWriter, WireType } from "@bufbuild/protobuf/wire";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { DomainError } from "../errors";
import {
  GraphProtoSchema,
  ModelProtoSchema,
  TensorProto_DataLocation,
  TensorProto_DataType,
  TensorProtoSchema,
  ValueInfoProtoSchema,
  type GraphProto,
  type ModelProto,
  type NodeProto,
  type TensorProto,
  type ValueInfoProto,
} from "./gen/onnx_pb";

export type { GraphProto, ModelProto, NodeProto, TensorProto, ValueInfoProto };

/** A dimension as a graph states it: a size, a symbolic name, or unknown. */
export type Dim = number | string | null;

/** Parses ONNX bytes; anything that is not an ONNX model with a graph is refused by name. */
export function readModel(bytes: Uint8Array): ModelProto {
  let model: ModelProto;
  try {
    model = fromBinary(ModelProtoSchema, bytes);
  } catch (e) {
    throw new DomainError(
      "invalid",
      "not_onnx",
      `not an ONNX model: the protobuf does not parse (${(e as Error).message})`,
    );
  }
  // Arbitrary bytes can parse as some protobuf; an ONNX model has an IR version, an opset and a graph of nodes.
  if (model.irVersion <= 0n || model.opsetImport.length === 0 || !model.graph || model.graph.node.length === 0) {
    throw new DomainError("invalid", "not_onnx", "not an ONNX model: no IR version, opset import or graph nodes");
  }
  return model;
}

const tagAndLength = (field: number, length: number): Uint8Array =>
  new BinaryWriter().tag(field, WireType.LengthDelimited).uint32(length).finish();

/**
 * The fields of `message` other than `omit`, serialised; the field is restored afterwards.
 * A singular field is deleted, not emptied: proto2 fields have presence, so an empty `raw_data` would
 * still be written. A repeated field is emptied (the writer expects the array).
 */
function withoutField<T extends object>(message: T, omit: keyof T, write: (m: T) => Uint8Array): Uint8Array {
  const own = Object.hasOwn(message, omit);
  const kept = message[omit];
  if (Array.isArray(kept)) message[omit] = [] as T[keyof T];
  else delete message[omit];
  try {
    return write(message);
  } finally {
    if (own) message[omit] = kept;
  }
}

/** TensorProto: field 9 = raw_data; GraphProto: field 5 = initializer; ModelProto: field 7 = graph. */
const RAW_DATA = 9;
const INITIALIZER = 5;
const GRAPH = 7;

/** One initializer as chunks: its fields, then raw_data as a view (not copied until assembly). */
function initializerChunks(tensor: TensorProto): Uint8Array[] {
  const raw = tensor.rawData;
  if (raw.length === 0) {
    const bytes = toBinary(TensorProtoSchema, tensor);
    return [tagAndLength(INITIALIZER, bytes.length), bytes];
  }
  const fields = withoutField(tensor, "rawData", (t) => toBinary(TensorProtoSchema, t));
  const rawHead = tagAndLength(RAW_DATA, raw.length);
  return [tagAndLength(INITIALIZER, fields.length + rawHead.length + raw.length), fields, rawHead, raw];
}

/**
 * Serialises a model with every initializer's raw_data copied once, into the output buffer.
 * `toBinary` on the whole model would write into a buffer that grows by doubling and then slice
 * it: about three times the model in memory at once (measured in docs/decisions/0006). Fields of a
 * protobuf message may come in any order, so the model's other fields, then the graph's, then its
 * initializers are written in that order; a parser reads the same model.
 */
export function writeModel(model: ModelProto): Uint8Array {
  const graph = model.graph;
  if (!graph) return toBinary(ModelProtoSchema, model);
  const head = withoutField(model, "graph", (m) => toBinary(ModelProtoSchema, m));
  const graphFields = withoutField(graph, "initializer", (g) => toBinary(GraphProtoSchema, g));
  const graphChunks = [graphFields, ...graph.initializer.flatMap(initializerChunks)];
  const graphLength = graphChunks.reduce((sum, c) => sum + c.length, 0);
  const chunks = [head, tagAndLength(GRAPH, graphLength), ...graphChunks];
  const out = new Uint8Array(chunks.reduce((sum, c) => sum + c.length, 0));
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.length;
  }
  return out;
}

/** A tensor the graph holds as a constant: an initializer or a Constant node's `value`. */
export function constantTensors(graph: GraphProto): Map<string, TensorProto> {
  const constants = new Map<string, TensorProto>();
  for (const t of graph.initializer) constants.set(t.name, t);
  for (const node of graph.node) {
    if (node.opType !== "Constant" || node.output.length !== 1) continue;
    const value = node.attribute.find((a) => a.name === "value")?.t;
    if (value) constants.set(node.output[0], value);
  }
  return constants;
}

export const tensorDims = (tensor: TensorProto): number[] => tensor.dims.map(Number);

/** The node producing each value. */
export function producers(graph: GraphProto): Map<string, NodeProto> {
  const byOutput = new Map<string, NodeProto>();
  for (const node of graph.node) for (const out of node.output) if (out) byOutput.set(out, node);
  return byOutput;
}

/** Dimensions of a tensor-typed graph input/output/value_info; null if it states no shape. */
export function valueDims(value: ValueInfoProto): Dim[] | null {
  const type = value.type?.value;
  if (type?.case !== "tensorType" || !type.value.shape) return null;
  return type.value.shape.dim.map((d) =>
    d.value.case === "dimValue" ? Number(d.value.value) : d.value.case === "dimParam" ? d.value.value : null,
  );
}

/** A float32 graph input of the given shape (numbers fixed, strings symbolic). */
export function float32Input(name: string, dims: readonly (number | string)[]): ValueInfoProto {
  return create(ValueInfoProtoSchema, {
    name,
    type: {
      value: {
        case: "tensorType",
        value: {
          elemType: TensorProto_DataType.FLOAT,
          shape: {
            dim: dims.map((d) => ({
              value:
                typeof d === "number"
                  ? { case: "dimValue" as const, value: BigInt(d) }
                  : { case: "dimParam" as const, value: d },
            })),
          },
        },
      },
    },
  });
}

/** The external data files (`location` of each externally stored tensor) a model refers to, in order of first use. */
export function externalDataFiles(graph: GraphProto): string[] {
  const files = new Set<string>();
  const visit = (t: TensorProto | undefined) => {
    if (t?.dataLocation !== TensorProto_DataLocation.EXTERNAL) return;
    const location = t.externalData.find((e) => e.key === "location")?.value;
    if (location) files.add(location);
  };
  const walk = (g: GraphProto) => {
    g.initializer.forEach(visit);
    for (const node of g.node) {
      for (const a of node.attribute) {
        visit(a.t);
        a.tensors.forEach(visit);
        if (a.g) walk(a.g);
        a.graphs.forEach(walk);
      }
    }
  };
  walk(graph);
  return [...files];
}

/** Every value name the graph defines or uses, nested graphs included: new names must avoid them. */
export function valueNames(graph: GraphProto): Set<string> {
  const names = new Set<string>();
  const walk = (g: GraphProto) => {
    for (const v of [...g.input, ...g.output, ...g.valueInfo]) names.add(v.name);
    for (const t of g.initializer) names.add(t.name);
    for (const node of g.node) {
      for (const n of [...node.input, ...node.output]) names.add(n);
      for (const a of node.attribute) {
        if (a.g) walk(a.g);
        a.graphs.forEach(walk);
      }
    }
  };
  walk(graph);
  return names;
}
