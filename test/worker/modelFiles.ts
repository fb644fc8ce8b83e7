/**
 * Model registrations and pushes as a client sends them, hostile variants of the reference ONNX, and
 * the state a refusal must leave alone.
 */
import { env } from "cloudflare:workers";
import { create } from "@bufbuild/protobuf";
import { expect } from "vitest";
import {
  StringStringEntryProtoSchema,
  TensorProto_DataLocation,
  TensorProtoSchema,
} from "../../src/models/gen/onnx_pb";
import { readModel, writeModel, type ModelProto, type TensorProto } from "../../src/models/onnxGraph";
import { ADMIN, call, form } from "./api";
import { fixtureBytes } from "./seed";

export type ErrorBody = { error: { code: string; message: string } };
export const DIR = "models/d2c-char-lm";
export const encode = (s: string) => new TextEncoder().encode(s);
export const sha256Hex = async (bytes: Uint8Array) =>
  [...new Uint8Array(await crypto.subtle.digest("SHA-256", bytes))]
    .map((b) => b.toString(16).padStart(2, "0"))
    .join("");

export async function tokenizerFiles(): Promise<Record<string, Uint8Array>> {
  return {
    "tokenizer.json": await fixtureBytes(`${DIR}/tokenizer.json`),
    "tokenizer_config.json": await fixtureBytes(`${DIR}/tokenizer_config.json`),
  };
}

export const register = (id: string, files: Record<string, Uint8Array>, query = "") =>
  call(`/v1/models/${id}${query}`, { method: "PUT", headers: ADMIN, body: form(files) });

/** Every R2 object (key and etag), the catalogue's models and its version. */
export async function snapshot() {
  const listed = await env.BUCKET.list({ limit: 1000 });
  const models = await (await call("/v1/models")).json();
  const tasks = (await (await call("/v1/tasks")).json()) as { catalogueVersion: number };
  return { r2: listed.objects.map((o) => `${o.key} ${o.etag}`).sort(), models, version: tasks.catalogueVersion };
}

/** Asserts the status and error code; returns the message. */
export async function refused(response: Response, status: number, code: string): Promise<string> {
  const body = (await response.json()) as ErrorBody;
  expect({ status: response.status, code: body.error.code }).toEqual({ status, code });
  return body.error.message;
}

/** A fixture ONNX with `change` applied to its parsed model. */
export async function onnxVariant(key: string, change: (model: ModelProto) => void): Promise<Uint8Array> {
  const model = readModel(await fixtureBytes(key));
  change(model);
  return writeModel(model);
}

/** The token embedding (the initializer `input_ids` gathers from). */
export function embedding(model: ModelProto): TensorProto {
  const graph = model.graph!;
  const gather = graph.node.find((n) => n.opType === "Gather" && n.input[1] === "input_ids")!;
  return graph.initializer.find((t) => t.name === gather.input[0])!;
}

/** The review's request: the embedding declared [65536, 32768] (8 GiB of float32) over 20 KB of data. */
export function hugeEmbedding(model: ModelProto): void {
  const t = embedding(model);
  t.dims = [65536n, 32768n];
  t.rawData = t.rawData.subarray(0, 20480);
}

/** The embedding moved to an external data file at `location`. */
export const externalEmbedding = (location: string) => (model: ModelProto) => {
  const t = embedding(model);
  const length = t.rawData.length;
  t.rawData = new Uint8Array(0);
  t.dataLocation = TensorProto_DataLocation.EXTERNAL;
  t.externalData = [
    ["location", location],
    ["offset", "0"],
    ["length", String(length)],
  ].map(([key, value]) => create(StringStringEntryProtoSchema, { key, value }));
};

/** An unused float initializer of `bytes` bytes: a model of any size that is still a valid graph. */
export const padding = (bytes: number) => (model: ModelProto) => {
  model.graph!.initializer.push(
    create(TensorProtoSchema, {
      name: "padding",
      dataType: 1,
      dims: [BigInt(bytes / 4)],
      rawData: new Uint8Array(bytes),
    }),
  );
};

type Part = { partNumber: number; etag: string };

export const startUpload = async (modelId: string, file: string, sha256: string) =>
  (await (
    await call(`/v1/models/${modelId}/uploads`, { method: "POST", body: JSON.stringify({ file, sha256 }) })
  ).json()) as { uploadId: string; complete: boolean };

export const sendPart = (
  modelId: string,
  uploadId: string,
  n: number,
  query: string,
  body: Uint8Array,
  length = body.byteLength,
) =>
  call(`/v1/models/${modelId}/uploads/${encodeURIComponent(uploadId)}/parts/${n}${query}`, {
    method: "PUT",
    headers: { ...ADMIN, "content-length": String(length) },
    body,
  });

export const completeUpload = (
  modelId: string,
  uploadId: string,
  body: { file: string; sha256: string; parts: Part[] },
) =>
  call(`/v1/models/${modelId}/uploads/${encodeURIComponent(uploadId)}/complete`, {
    method: "POST",
    body: JSON.stringify(body),
  });

/** Pushes one file in parts of `partBytes` as the CLI does; returns its digest and the completion's response. */
export async function push(modelId: string, file: string, bytes: Uint8Array, partBytes = 8 << 20) {
  const sha256 = await sha256Hex(bytes);
  const started = await startUpload(modelId, file, sha256);
  const parts: Part[] = [];
  for (let offset = 0, n = 1; offset < bytes.byteLength; offset += partBytes, n++) {
    const response = await sendPart(
      modelId,
      started.uploadId,
      n,
      `?file=${file}&sha256=${sha256}`,
      bytes.subarray(offset, offset + partBytes),
    );
    expect(response.status).toBe(200);
    parts.push((await response.json()) as Part);
  }
  return {
    sha256,
    uploadId: started.uploadId,
    parts,
    done: await completeUpload(modelId, started.uploadId, { file, sha256, parts }),
  };
}

/** The reference model.json for a model whose files were pushed. */
export async function pushedModelJson(
  modelId: string,
  sha256: string,
  externalData?: { file: string; sha256: string }[],
): Promise<Uint8Array> {
  const reference = JSON.parse(new TextDecoder().decode(await fixtureBytes(`${DIR}/model.json`)));
  return encode(
    JSON.stringify({
      ...reference,
      modelId,
      onnx: { file: `${sha256}/model.onnx`, sha256, ...(externalData ? { externalData } : {}) },
    }),
  );
}
