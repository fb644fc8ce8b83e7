/**
 * Malformed uploads get a precise 4xx and leave R2 and the catalogue exactly as they were:
 * every case compares the catalogue version and the full R2 listing before and after.
 */
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { readSafetensors, writeSafetensors, type TensorInput } from "../../src/adapters/safetensors";
import { ADMIN, call, form, registerModel, uploadAdapter, uploadExamples } from "./api";
import { fixtureBytes } from "./seed";

const encode = (s: string) => new TextEncoder().encode(s);
const A = (layer: number, m: string) => `base_model.model.model.layers.${layer}.self_attn.${m}.lora_A.weight`;
const B = (layer: number, m: string) => `base_model.model.model.layers.${layer}.self_attn.${m}.lora_B.weight`;

/** A raw safetensors file from a header object and a data length. */
function rawSafetensors(header: unknown, dataBytes: number, declaredHeaderBytes?: number): Uint8Array {
  const json = encode(JSON.stringify(header));
  const out = new Uint8Array(8 + json.byteLength + dataBytes);
  new DataView(out.buffer).setBigUint64(0, BigInt(declaredHeaderBytes ?? json.byteLength), true);
  out.set(json, 8);
  return out;
}

let config: Uint8Array;
let weights: Uint8Array;
const adapterFiles = (w: Uint8Array, c: Uint8Array = config) => ({
  "adapter_config.json": c,
  "adapter_model.safetensors": w,
});
const withConfig = (patch: Record<string, unknown>) =>
  encode(JSON.stringify({ ...JSON.parse(new TextDecoder().decode(config)), ...patch }));

function fixtureWith(change: (tensors: Record<string, TensorInput>) => void): Uint8Array {
  const tensors: Record<string, TensorInput> = Object.fromEntries(readSafetensors(weights).tensors);
  change(tensors);
  return writeSafetensors(tensors);
}

interface Case {
  name: string;
  send: () => Promise<Response>;
  status: number;
  mention: string;
}

const cases: Case[] = [
  {
    name: "truncated file",
    status: 422,
    mention: "past the data section",
    send: () => uploadAdapter("bad", adapterFiles(weights.subarray(0, weights.byteLength - 100))),
  },
  {
    name: "header length beyond the file",
    status: 422,
    mention: "header length",
    send: () => uploadAdapter("bad", adapterFiles(rawSafetensors({}, 0, 1 << 30))),
  },
  {
    name: "overlapping offsets",
    status: 422,
    mention: "overlaps",
    send: () =>
      uploadAdapter(
        "bad",
        adapterFiles(
          rawSafetensors(
            {
              [A(0, "q_proj")]: { dtype: "F32", shape: [8, 128], data_offsets: [0, 4096] },
              [B(0, "q_proj")]: { dtype: "F32", shape: [128, 8], data_offsets: [2048, 6144] },
            },
            6144,
          ),
        ),
      ),
  },
  {
    name: "unknown dtype",
    status: 422,
    mention: 'dtype "I64"',
    send: () =>
      uploadAdapter(
        "bad",
        adapterFiles(
          rawSafetensors({ [A(0, "q_proj")]: { dtype: "I64", shape: [8, 128], data_offsets: [0, 8192] } }, 8192),
        ),
      ),
  },
  {
    name: "wrong shape",
    status: 422,
    mention: `${A(1, "v_proj")}: shape [8,64], expected [8,128]`,
    send: () =>
      uploadAdapter(
        "bad",
        adapterFiles(
          fixtureWith((t) => (t[A(1, "v_proj")] = { dtype: "F32", shape: [8, 64], bytes: new Uint8Array(2048) })),
        ),
      ),
  },
  {
    name: "missing lora_B",
    status: 422,
    mention: `${B(2, "k_proj")}: missing`,
    send: () => uploadAdapter("bad", adapterFiles(fixtureWith((t) => delete t[B(2, "k_proj")]))),
  },
  {
    name: "NaN weight",
    status: 422,
    mention: "value NaN",
    send: () =>
      uploadAdapter(
        "bad",
        adapterFiles(
          fixtureWith((t) => {
            t[B(0, "q_proj")] = {
              dtype: "F32",
              shape: [128, 8],
              bytes: new Uint8Array(new Float32Array(1024).fill(Number.NaN).buffer),
            };
          }),
        ),
      ),
  },
  {
    name: "rank too large",
    status: 422,
    mention: "r must be an integer in 1..64",
    send: () => uploadAdapter("bad", adapterFiles(weights, withConfig({ r: 128 }))),
  },
  {
    name: "non-JSON config",
    status: 400,
    mention: "adapter_config.json is not valid JSON",
    send: () => uploadAdapter("bad", adapterFiles(weights, encode("{r: 8"))),
  },
  {
    name: "missing multipart field",
    status: 400,
    mention: "adapter_model.safetensors is missing",
    send: () => uploadAdapter("bad", { "adapter_config.json": config }),
  },
  {
    name: "JSONL with a missing field",
    status: 400,
    mention: "line 2: expected",
    send: () => uploadExamples("qa-en", "fewshot", encode('{"prompt":"a","completion":"b"}\n{"prompt":"a"}\n')),
  },
  {
    name: "prompt too long",
    status: 400,
    mention: "line 1: 84 tokens",
    send: () => uploadExamples("qa-en", "fewshot", encode(`{"prompt":"${"a".repeat(80)}","completion":"bc"}\n`)),
  },
  {
    name: "oversize body",
    status: 413,
    mention: "the limit is",
    send: () => uploadExamples("qa-en", "test", new Uint8Array((4 << 20) + 1).fill(0x20)),
  },
  {
    name: "examples of an unknown task",
    status: 404,
    mention: "no task nope",
    send: () => uploadExamples("nope", "fewshot", encode('{"prompt":"a","completion":"b"}\n')),
  },
  {
    name: "bad split",
    status: 400,
    mention: "split",
    send: () => call("/v1/tasks/qa-en/examples?split=train", { method: "PUT", headers: ADMIN, body: "x" }),
  },
  {
    name: "bad token",
    status: 401,
    mention: "bearer token",
    send: () => call("/v1/tasks/qa-en", { method: "DELETE", headers: { authorization: "Bearer wrong" } }),
  },
  {
    name: "no token",
    status: 401,
    mention: "bearer token",
    send: () => call("/v1/tasks/qa-en", { method: "DELETE", headers: {} }),
  },
  {
    name: "catalogue read without a token",
    status: 401,
    mention: "bearer token",
    send: () => call("/v1/tasks", { headers: {} }),
  },
  {
    name: "ONNX that does not load",
    status: 400,
    mention: "not an ONNX model: the protobuf does not parse",
    send: () => registerBrokenModel(),
  },
  // The effective factors (PEFT scaling applied) are what the model uses: they are what is checked.
  {
    name: "lora_alpha 1e30",
    status: 422,
    mention: "outside ±65504 (PEFT scaling 1.25e+29 applied)",
    send: () => uploadAdapter("bad", adapterFiles(weights, withConfig({ lora_alpha: 1e30 }))),
  },
  {
    name: "lora_alpha 1e308",
    status: 422,
    mention: "effective value Infinity",
    send: () => uploadAdapter("bad", adapterFiles(weights, withConfig({ lora_alpha: 1e308 }))),
  },
  {
    name: "lora_alpha 1e4",
    status: 422,
    mention: "Frobenius norm",
    send: () => uploadAdapter("bad", adapterFiles(weights, withConfig({ lora_alpha: 1e4 }))),
  },
  {
    name: "lora_alpha 0",
    status: 422,
    mention: "lora_alpha must be a finite number above 0, got 0",
    send: () => uploadAdapter("bad", adapterFiles(weights, withConfig({ lora_alpha: 0 }))),
  },
  {
    name: "negative lora_alpha",
    status: 422,
    mention: "above 0, got -16",
    send: () => uploadAdapter("bad", adapterFiles(weights, withConfig({ lora_alpha: -16 }))),
  },
  {
    name: "tensor named twice",
    status: 400,
    mention: `header names tensor ${A(0, "k_proj")} twice`,
    send: () => uploadAdapter("bad", adapterFiles(repeatedTensor())),
  },
  {
    name: "target module the model lacks",
    status: 400,
    mention: "target_modules names gate_proj, which the model lacks",
    send: () =>
      uploadAdapter(
        "bad",
        adapterFiles(weights, withConfig({ target_modules: ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj"] })),
      ),
  },
  {
    name: "target regex matching nothing",
    status: 400,
    mention: "matches no module",
    send: () => uploadAdapter("bad", adapterFiles(weights, withConfig({ target_modules: ".*mlp.*" }))),
  },
  {
    name: "unknown base model",
    status: 422,
    mention: "llama-70b",
    send: () => uploadAdapter("bad", adapterFiles(weights, withConfig({ base_model_name_or_path: "llama-70b" }))),
  },
];

/**
 * The fixture's weights with its first tensor's header entry written twice, the second pointing
 * at the next tensor's bytes: JSON.parse would keep the second silently.
 */
function repeatedTensor(): Uint8Array {
  const length = Number(new DataView(weights.buffer, weights.byteOffset).getBigUint64(0, true));
  const header = new TextDecoder().decode(weights.subarray(8, 8 + length)).trimEnd();
  const parsed = JSON.parse(header) as Record<string, { data_offsets: number[] }>;
  const [first, second] = Object.keys(parsed)
    .filter((k) => k !== "__metadata__")
    .sort((a, b) => parsed[a].data_offsets[0] - parsed[b].data_offsets[0]);
  const twice = `${header.slice(0, -1)},${JSON.stringify(first)}:${JSON.stringify(parsed[second])}}`;
  const json = encode(twice);
  const data = weights.subarray(8 + length);
  const out = new Uint8Array(8 + json.byteLength + data.byteLength);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.byteLength), true);
  out.set(json, 8);
  out.set(data, 8 + json.byteLength);
  return out;
}

/** The fixture model cut short, with a model.json whose sha256 matches the cut bytes. */
async function registerBrokenModel(): Promise<Response> {
  const dir = "models/d2c-char-lm";
  const onnx = (await fixtureBytes(`${dir}/model.onnx`)).subarray(0, 4096);
  const digest = await crypto.subtle.digest("SHA-256", onnx);
  const sha256 = [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
  const contract = JSON.parse(new TextDecoder().decode(await fixtureBytes(`${dir}/model.json`)));
  const files = {
    "model.onnx": onnx,
    "model.json": encode(JSON.stringify({ ...contract, onnx: { ...contract.onnx, sha256 } })),
    "tokenizer.json": await fixtureBytes(`${dir}/tokenizer.json`),
    "tokenizer_config.json": await fixtureBytes(`${dir}/tokenizer_config.json`),
  };
  return call("/v1/models/d2c-char-lm", { method: "PUT", headers: ADMIN, body: form(files) });
}

async function snapshot() {
  const listed = await env.BUCKET.list({ limit: 1000 });
  const tasks = (await (await call("/v1/tasks")).json()) as { tasks: unknown[]; catalogueVersion: number };
  return { r2: listed.objects.map((o) => `${o.key} ${o.etag}`).sort(), tasks };
}

beforeAll(async () => {
  config = await fixtureBytes("adapters/qa-en/adapter_config.json");
  weights = await fixtureBytes("adapters/qa-en/adapter_model.safetensors");
  expect((await registerModel()).status).toBe(201);
  expect((await uploadAdapter("qa-en")).status).toBe(201);
  expect((await uploadExamples("qa-en", "fewshot")).status).toBe(201);
});

describe("bad input", () => {
  it("has at least 15 distinct cases", () => expect(new Set(cases.map((c) => c.name)).size).toBeGreaterThanOrEqual(15));

  for (const c of cases) {
    it(`${c.name}: ${c.status}, nothing stored changes`, async () => {
      const before = await snapshot();
      const response = await c.send();
      expect(response.status).toBe(c.status);
      const body = (await response.json()) as { error: { code: string; message: string } };
      expect(body.error.code).toMatch(/^[a-z_]+$/);
      expect(body.error.message).toContain(c.mention);
      expect(await snapshot()).toEqual(before);
    });
  }
});
