/**
 * LoRA graph surgery: a plain decoder ONNX (as `torch.onnx.export`/optimum write one: weights as
 * initializers, no LoRA inputs) gets the model contract's LoRA inputs (README, "Bring your own model").
 * For each target module, its projection y = x W (MatMul, or Gemm) becomes
 *   y = x W + (x A^T) B^T     with graph inputs `<module>.lora_A` [r, in], `<module>.lora_B` [out, r]
 * and r symbolic (`<module>.rank`), the same nodes the LoRA-input export has (Transpose, MatMul,
 * Transpose, MatMul, Add), so zero factors of rank 1 give the plain model's outputs exactly.
 * Everything else (initializers, external data references, other nodes, outputs, opset) is kept.
 * Pure: runs in workerd and in Node (the CLI, on models too big for a Worker).
 */
import { create } from "@bufbuild/protobuf";
import type { LoraTarget } from "../adapters/factors";
import { DomainError } from "../errors";
import {
  AttributeProto_AttributeType,
  AttributeProtoSchema,
  NodeProtoSchema,
  TensorProto_DataType,
} from "./gen/onnx_pb";
import {
  constantTensors,
  externalDataFiles,
  float32Input,
  producers,
  readModel,
  tensorDims,
  valueDims,
  valueNames,
  writeModel,
  type GraphProto,
  type NodeProto,
  type TensorProto,
} from "./onnxGraph";

export interface SurgeryOptions {
  /**
   * Module-name suffixes to give LoRA inputs, matched on whole dot-separated segments
   * (`q_proj` matches `model.layers.0.self_attn.q_proj`). Default: DEFAULT_LORA_TARGETS.
   */
  readonly targets?: readonly string[];
  /** Max sequence for model.json: used when the graph states none; at most the graph's if it does. */
  readonly maxSequence?: number;
}

export interface SurgeryResult {
  /** The model with LoRA inputs. */
  readonly onnx: Uint8Array;
  /** One per projection given LoRA inputs, in graph order. */
  readonly targets: LoraTarget[];
  /** The logits output's last dimension, else the token embedding's rows; null if neither is stated. */
  readonly vocabSize: number | null;
  /** The option if given, else the positions of the graph's RoPE cache / position table; null if neither. */
  readonly maxSequence: number | null;
  /** External data file names the model refers to (kept as references, never read). */
  readonly externalData: string[];
}

/** The attention projections, as PEFT names them for Llama, Qwen, Gemma and Mistral. */
export const DEFAULT_LORA_TARGETS: readonly string[] = ["q_proj", "k_proj", "v_proj", "o_proj"];

/** A graph the surgery cannot give LoRA inputs to; the message names the node or module. */
export class SurgeryError extends DomainError {
  constructor(code: string, message: string) {
    super("invalid", code, message);
    this.name = "SurgeryError";
  }
}

const isLoraInput = (name: string) => name.endsWith(".lora_A") || name.endsWith(".lora_B");

/** The LoRA inputs a model already has (none for a plain export). */
export function loraInputsOf(onnx: Uint8Array): string[] {
  return readModel(onnx)
    .graph!.input.map((i) => i.name)
    .filter(isLoraInput);
}

/** A MatMul or Gemm whose weight is a constant: y = x W, W [in, out] after any transpose. */
interface Projection {
  readonly node: NodeProto;
  readonly module: string;
  readonly x: string;
  readonly in: number;
  readonly out: number;
}

type Weight =
  | { readonly tensor: TensorProto; readonly name: string; readonly in: number; readonly out: number }
  | { readonly problem: string };

const segmentMatch = (module: string, suffix: string) => module === suffix || module.endsWith(`.${suffix}`);

/** `/model/layers.0/self_attn/q_proj/MatMul` -> `model.layers.0.self_attn.q_proj` (torch's scoped node names). */
function scopeModule(nodeName: string): string | null {
  const parts = nodeName.split("/").filter(Boolean);
  return parts.length >= 2 ? parts.slice(0, -1).join(".") : null;
}

const intAttr = (node: NodeProto, name: string, fallback: number) => {
  const a = node.attribute.find((x) => x.name === name);
  return a ? Number(a.i) : fallback;
};

function weightOf(node: NodeProto, constants: Map<string, TensorProto>, producedBy: Map<string, NodeProto>): Weight {
  const name = node.input[1];
  let tensor = constants.get(name);
  let transposed = node.opType === "Gemm" && intAttr(node, "transB", 0) === 1;
  let tensorName = name;
  const transpose = producedBy.get(name);
  if (!tensor && transpose?.opType === "Transpose" && constants.has(transpose.input[0])) {
    const perm = transpose.attribute.find((a) => a.name === "perm")?.ints.map(Number) ?? [1, 0];
    if (perm.length !== 2 || perm[0] !== 1)
      return { problem: `its weight goes through Transpose ${transpose.name} with perm [${perm}]` };
    tensorName = transpose.input[0];
    tensor = constants.get(tensorName);
    transposed = !transposed;
  }
  if (!tensor)
    return {
      problem: producedBy.has(name)
        ? `its weight ${name} is computed by ${producedBy.get(name)!.opType} ` +
          "(quantised or otherwise not a plain initializer)"
        : `its weight ${name} is not a constant`,
    };
  const dims = tensorDims(tensor);
  if (dims.length !== 2) return { problem: `its weight ${tensorName} has shape [${dims}], not [in, out]` };
  if (tensor.dataType !== TensorProto_DataType.FLOAT)
    return { problem: `its weight ${tensorName} is ${TensorProto_DataType[tensor.dataType]}, not float32` };
  if (node.opType === "Gemm" && intAttr(node, "transA", 0) !== 0) return { problem: "it is a Gemm with transA" };
  const [rows, cols] = dims;
  return transposed
    ? { tensor, name: tensorName, in: cols, out: rows }
    : { tensor, name: tensorName, in: rows, out: cols };
}

/** Quantised matrix products a projection may be exported as. */
const QUANTISED = new Set([
  "MatMulNBits",
  "MatMulInteger",
  "QLinearMatMul",
  "MatMulIntegerToFloat",
  "DynamicQuantizeMatMul",
  "GatherBlockQuantized",
]);

/** Module names fused projections go by (a fused qkv cannot take separate q/k/v factors). */
const FUSED = /qkv|query_key_value|c_attn|w_pack|in_proj|gate_up/i;

function missingTarget(suffix: string, modules: readonly string[]): SurgeryError {
  const fused = modules.filter((m) => FUSED.test(m.slice(m.lastIndexOf(".") + 1)));
  if (fused.length > 0) {
    return new SurgeryError(
      "lora_target_fused",
      `LoRA target ${suffix}: no separate projection; the graph fuses it into ` +
        `${fused[0]}${fused.length > 1 ? ` (and ${fused.length - 1} more)` : ""}, which separate ${suffix} ` +
        `factors cannot feed`,
    );
  }
  const shown = modules.slice(0, 8).join(", ");
  return new SurgeryError(
    "lora_target_missing",
    `LoRA target ${suffix}: no MatMul/Gemm node or weight maps to a module named *.${suffix}` +
      (modules.length
        ? ` (projections found: ${shown}${modules.length > 8 ? `, ... ${modules.length} in all` : ""})`
        : " (the graph has no MatMul/Gemm with a constant weight)"),
  );
}

function findProjections(graph: GraphProto, suffixes: readonly string[]): Projection[] {
  const constants = constantTensors(graph);
  const producedBy = producers(graph);
  const found: Projection[] = [];
  const modules: string[] = [];
  for (const node of graph.node) {
    if (QUANTISED.has(node.opType)) {
      const module = scopeModule(node.name);
      const suffix = module && suffixes.find((s) => segmentMatch(module, s));
      if (suffix)
        throw new SurgeryError(
          "lora_target_unsupported",
          `LoRA target ${module}: node ${node.name} is ${node.opType}; quantised projections cannot take LoRA ` +
            `inputs (export the float model)`,
        );
      continue;
    }
    if ((node.opType !== "MatMul" && node.opType !== "Gemm") || (node.domain !== "" && node.domain !== "ai.onnx"))
      continue;
    const weight = weightOf(node, constants, producedBy);
    const fromWeight =
      "name" in weight && weight.name.endsWith(".weight") ? weight.name.slice(0, -".weight".length) : null;
    const candidates = [scopeModule(node.name), fromWeight].filter((m): m is string => m !== null);
    if ("tensor" in weight && candidates[0]) modules.push(candidates[0]);
    const suffix = suffixes.find((s) => candidates.some((m) => segmentMatch(m, s)));
    if (!suffix) continue;
    const module = candidates.find((m) => segmentMatch(m, suffix))!;
    if ("problem" in weight) {
      throw new SurgeryError(
        "lora_target_unsupported",
        `LoRA target ${module}: node ${node.name || node.output[0]} (${node.opType}) cannot take LoRA inputs: ` +
          `${weight.problem}`,
      );
    }
    found.push({ node, module, x: node.input[0], in: weight.in, out: weight.out });
  }
  for (const suffix of suffixes)
    if (!found.some((p) => segmentMatch(p.module, suffix))) throw missingTarget(suffix, modules);
  const seen = new Map<string, Projection>();
  for (const p of found) {
    const first = seen.get(p.module);
    if (first)
      throw new SurgeryError(
        "lora_target_ambiguous",
        `LoRA target ${p.module}: two nodes compute it (${first.node.name} and ${p.node.name}); one pair of ` +
          `factors cannot serve both`,
      );
    seen.set(p.module, p);
  }
  return found;
}

/**
 * Rewrites each projection's output y to y + (x A^T) B^T: the projection now writes `<y>/base`, the Add writes y, so
 * every consumer (nested graphs included) reads the sum.
 */
function insertLowRankPaths(graph: GraphProto, projections: readonly Projection[]): void {
  const taken = valueNames(graph);
  const fresh = (name: string) => {
    let candidate = name;
    for (let i = 1; taken.has(candidate); i++) candidate = `${name}_${i}`;
    taken.add(candidate);
    return candidate;
  };
  const perm = () =>
    create(AttributeProtoSchema, { name: "perm", type: AttributeProto_AttributeType.INTS, ints: [1n, 0n] });
  const after = new Map<NodeProto, NodeProto[]>();
  for (const p of projections) {
    const a = `${p.module}.lora_A`;
    const b = `${p.module}.lora_B`;
    for (const name of [a, b])
      if (taken.has(name))
        throw new SurgeryError(
          "lora_input_taken",
          `LoRA target ${p.module}: the graph already has a value named ${name}`,
        );
    taken.add(a).add(b);
    const y = p.node.output[0];
    const base = fresh(`${y}/base`);
    p.node.output[0] = base;
    const scope = p.node.name.includes("/")
      ? p.node.name.slice(0, p.node.name.lastIndexOf("/"))
      : `/${p.module.replaceAll(".", "/")}`;
    const [aT, xa, bT, delta] = ["lora_A_T", "lora_xA", "lora_B_T", "lora_delta"].map((s) => fresh(`${scope}/${s}`));
    const node = (
      opType: string,
      input: string[],
      output: string,
      name: string,
      attribute = [] as ReturnType<typeof perm>[],
    ) => create(NodeProtoSchema, { opType, input, output: [output], name: fresh(`${scope}/lora/${name}`), attribute });
    after.set(p.node, [
      node("Transpose", [a], aT, "Transpose_A", [perm()]),
      node("MatMul", [p.x, aT], xa, "MatMul_A"),
      node("Transpose", [b], bT, "Transpose_B", [perm()]),
      node("MatMul", [xa, bT], delta, "MatMul_B"),
      node("Add", [base, delta], y, "Add"),
    ]);
    graph.input.push(float32Input(a, [`${p.module}.rank`, p.in]), float32Input(b, [p.out, `${p.module}.rank`]));
  }
  graph.node = graph.node.flatMap((n) => [n, ...(after.get(n) ?? [])]);
}

const FLOATS = new Set<number>([
  TensorProto_DataType.FLOAT,
  TensorProto_DataType.FLOAT16,
  TensorProto_DataType.BFLOAT16,
  TensorProto_DataType.DOUBLE,
]);

/** The logits output's last dimension, else the rows of the embedding gathered by `input_ids`. */
function vocabSizeOf(graph: GraphProto, constants: Map<string, TensorProto>): number | null {
  const logits = graph.output.find((o) => o.name === "logits") ?? graph.output[0];
  const last = logits ? valueDims(logits)?.at(-1) : undefined;
  if (typeof last === "number" && last > 0) return last;
  const embedding = graph.node.find(
    (n) => n.opType === "Gather" && n.input[1] === "input_ids" && constants.has(n.input[0]),
  );
  return embedding ? (tensorDims(constants.get(embedding.input[0])!)[0] ?? null) : null;
}

/**
 * Positions the graph can address: a float table (RoPE cos/sin cache, learned position embedding,
 * causal mask buffer) of rank >= 2 that a Slice cuts or a Gather indexes by position, not by
 * `input_ids`; its length on that axis. Null if there is none or they disagree.
 */
function graphMaxSequence(graph: GraphProto, constants: Map<string, TensorProto>): number | null {
  const lengths = new Set<number>();
  for (const node of graph.node) {
    const table = constants.get(node.input[0]);
    if (!table || !FLOATS.has(table.dataType) || table.dims.length < 2) continue;
    const dims = tensorDims(table);
    let axis: number | undefined;
    if (node.opType === "Gather" && node.input[1] !== "input_ids") axis = intAttr(node, "axis", 0);
    if (node.opType === "Slice") {
      const axes = node.input[3] ? constants.get(node.input[3]) : undefined;
      const values = axes ? axesOf(axes) : [0];
      axis = values.length === 1 ? values[0] : undefined;
    }
    if (axis === undefined) continue;
    const length = dims[axis < 0 ? axis + dims.length : axis];
    if (length > 1) lengths.add(length);
  }
  return lengths.size === 1 ? [...lengths][0] : null;
}

/** A small int64/int32 axes tensor's values (raw_data or typed fields). */
function axesOf(t: TensorProto): number[] {
  if (t.int64Data.length) return t.int64Data.map(Number);
  if (t.int32Data.length) return [...t.int32Data];
  const view = new DataView(t.rawData.buffer, t.rawData.byteOffset, t.rawData.byteLength);
  const wide = t.dataType === TensorProto_DataType.INT64;
  return Array.from({ length: t.rawData.byteLength / (wide ? 8 : 4) }, (_, i) =>
    wide ? Number(view.getBigInt64(i * 8, true)) : view.getInt32(i * 4, true),
  );
}

export function addLoraInputs(plain: Uint8Array, options: SurgeryOptions = {}): SurgeryResult {
  const suffixes = options.targets ?? DEFAULT_LORA_TARGETS;
  if (suffixes.length === 0 || suffixes.some((s) => !/^[A-Za-z0-9_.]+$/.test(s))) {
    throw new SurgeryError(
      "lora_targets_invalid",
      `LoRA targets must be module-name suffixes such as q_proj; got [${suffixes.join(", ")}]`,
    );
  }
  if (options.maxSequence !== undefined && !(Number.isInteger(options.maxSequence) && options.maxSequence > 0)) {
    throw new SurgeryError(
      "max_sequence_invalid",
      `maxSequence must be a positive integer; got ${options.maxSequence}`,
    );
  }
  const model = readModel(plain);
  const graph = model.graph!;
  const existing = graph.input.map((i) => i.name).filter(isLoraInput);
  if (existing.length > 0) {
    throw new SurgeryError(
      "lora_inputs_present",
      `the model already has LoRA inputs ` +
        `(${existing.slice(0, 3).join(", ")}${existing.length > 3 ? ", ..." : ""}): register it as it is`,
    );
  }
  const constants = constantTensors(graph);
  const vocabSize = vocabSizeOf(graph, constants);
  const positions = graphMaxSequence(graph, constants);
  if (options.maxSequence !== undefined && positions !== null && options.maxSequence > positions) {
    throw new SurgeryError(
      "max_sequence_invalid",
      `maxSequence ${options.maxSequence} exceeds the ${positions} positions the graph's position table holds`,
    );
  }
  const projections = findProjections(graph, suffixes);
  insertLowRankPaths(graph, projections);
  return {
    onnx: writeModel(model),
    targets: projections.map((p) => ({ module: p.module, in: p.in, out: p.out })),
    vocabSize,
    maxSequence: options.maxSequence ?? positions,
    externalData: externalDataFiles(graph),
  };
}
