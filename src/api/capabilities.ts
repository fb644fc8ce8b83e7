/**
 * `GET /v1/capabilities`: the registries as a client reads them, so the console and the CLI keep no
 * copy of the lists. Merge methods with their parameters as POST /v1/runs validates them, release
 * formats with their dtypes and rules, run methods and evaluators, and each default.
 */
import { Hono } from "hono";
import {
  DEFAULT_MERGE_METHOD,
  MERGE_METHOD_DESCRIPTORS,
  MERGE_PARAMETERS,
  type MergeMethodDescriptor,
  type MergeParameterName,
} from "../adapters/merge/registry";
import { PART_DTYPES } from "../adapters/parts/quantize";
import { ADAPTER_FORMAT_DESCRIPTORS, SHIPPED_DTYPES } from "../delivery/formats";
import { ProfileSchema } from "../delivery/profiles";
import { EVALUATORS, RUN_METHODS } from "../runs/config";
import { RunRequest } from "../runs/start";
import { requireAdmin } from "./auth";

/** A parameter with the request field that sets it: merge.<name>, or the run's own field. */
function parameter(name: MergeParameterName) {
  const { source, ...bounds } = MERGE_PARAMETERS[name];
  return { name, field: source === "request" ? `merge.${name}` : name, source, ...bounds };
}

/** A descriptor as JSON has it: its implementation (an encoder, a merge function) left out. */
function described(descriptor: object): Record<string, unknown> {
  return Object.fromEntries(Object.entries(descriptor).filter(([, value]) => typeof value !== "function"));
}

const mergeMethod = (method: MergeMethodDescriptor) => ({
  ...described(method),
  parameters: method.parameters.map(parameter),
});

let document: object | undefined;

export function capabilitiesDocument(): object {
  document ??= {
    mergeMethods: MERGE_METHOD_DESCRIPTORS.map(mergeMethod),
    defaultMergeMethod: DEFAULT_MERGE_METHOD,
    formats: ADAPTER_FORMAT_DESCRIPTORS.map(described),
    // The profile schema's own defaults, so these cannot drift from what PUT /v1/profiles stores.
    defaultFormats: ProfileSchema.shape.formats.parse(undefined),
    dtypes: SHIPPED_DTYPES,
    defaultDtype: ProfileSchema.shape.dtype.parse(undefined),
    partDtypes: PART_DTYPES,
    runMethods: RUN_METHODS,
    defaultRunMethod: RunRequest.shape.method.parse(undefined),
    evaluators: EVALUATORS,
  };
  return document;
}

export const capabilities = new Hono<{ Bindings: Env }>();

capabilities.use("*", requireAdmin);

capabilities.get("/", (c) => c.json(capabilitiesDocument()));
