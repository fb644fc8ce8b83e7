/**
 * The GGUF LoRA writer (src/delivery/gguf.ts) and the tests' reader (test/readers/gguf.ts) on
 * fixture adapters, and a release written in the format. That gguf-py reads the files and
 * writes the same bytes from the same factors: test/fixtures/gguf.test.ts.
 */
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { mergeAdapters } from "../../src/adapters/merge";
import type { AdapterFactors, LoraTarget } from "../../src/adapters/factors";
import { toFloat32 } from "../../src/adapters/safetensors";
import { DomainError } from "../../src/errors";
import { GgmlType, GgufValueType, toGgufLora } from "../../src/delivery/gguf";
import { readGguf, type GgufFile, type GgufTensor } from "../readers/gguf";
import type { StoredProfile } from "../../src/delivery/profiles";
import { encodeReleaseBlobs, storeReleaseBlobs } from "../../src/workflows/publish";
import type { ModelContract } from "../../src/inference/contract";
import { buildMergedAdapter } from "../../src/runs/merging";
import { readAdapter } from "../../src/storage/adapters";
import { blobKey } from "../../src/storage/keys";
import { sha256Hex } from "../../src/storage/sha256";
import type { ClusterView } from "../../src/runs/status";
import { fixtureBytes, fixtureJson, seedKeys } from "./seed";

/** binary16 keeps 11 significant bits: round-to-nearest is within 2^-11 relative (normal range). */
const HALF_RELATIVE = 1e-3;

const TASKS = ["gec-de", "gec-en"];
let model: ModelContract;
let targets: readonly LoraTarget[];
let gecDe: AdapterFactors;
/** An svd merge: float32 values with no short binary16 form, unlike the fp16-stored fixtures. */
let merged: AdapterFactors;

const llama = (dtype: "fp32" | "fp16") => ({ architecture: model.architecture!, dtype, heads: model.config!.n_heads });

const values = (t: GgufTensor) =>
  toFloat32({ dtype: t.type === GgmlType.F16 ? "F16" : "F32", shape: t.dims, bytes: t.data });
const tensorsOf = (file: GgufFile) => new Map(file.tensors.map((t) => [t.name, values(t)]));

/** `blk.N.attn_x.weight` of a PEFT module path, written out here rather than taken from gguf.ts. */
function baseName(module: string): string {
  const [, layer, projection] = /^model\.layers\.(\d+)\.self_attn\.(\w)_proj$/.exec(module)!;
  return `blk.${layer}.${{ q: "attn_q", k: "attn_k", v: "attn_v", o: "attn_output" }[projection]}.weight`;
}

beforeAll(async () => {
  model = await fixtureJson<ModelContract>("models/d2c-char-lm/model.json");
  targets = model.loraTargets;
  await seedKeys(
    TASKS.flatMap((t) => [`adapters/${t}/adapter_config.json`, `adapters/${t}/adapter_model.safetensors`]),
  );
  gecDe = await readAdapter(env.BUCKET, "gec-de", targets);
  merged = mergeAdapters([gecDe, await readAdapter(env.BUCKET, "gec-en", targets)], targets, { method: "svd" });
});

describe("toGgufLora / readGguf", () => {
  it("writes GGUF v3 with the metadata llama.cpp's adapter loader checks", () => {
    const bytes = toGgufLora(gecDe, targets, llama("fp32"));
    expect(new TextDecoder().decode(bytes.subarray(0, 4))).toBe("GGUF");
    expect(new DataView(bytes.buffer).getUint32(4, true)).toBe(3);
    const file = readGguf(bytes);
    expect(file).toMatchObject({ version: 3, alignment: 32 });
    expect(model.architecture).toBe("llama");
    expect(Object.fromEntries(file.metadata)).toEqual({
      "general.architecture": { type: GgufValueType.STRING, value: "llama" },
      "general.type": { type: GgufValueType.STRING, value: "adapter" },
      "adapter.type": { type: GgufValueType.STRING, value: "lora" },
      // alpha = r: llama.cpp's scale alpha / r is 1, the merged scaling being in B already.
      "adapter.lora.alpha": { type: GgufValueType.FLOAT32, value: 8 },
      "general.quantization_version": { type: GgufValueType.UINT32, value: 2 },
    });
    const custom = readGguf(toGgufLora(gecDe, targets, { ...llama("fp16"), alpha: 16 }));
    expect(custom.metadata.get("adapter.lora.alpha")).toEqual({ type: GgufValueType.FLOAT32, value: 16 });
  });

  it(
    "names 32 tensors blk.0..3 attn_{q,k,v,output}.weight.lora_{a,b}, ne [in, r] and [r, out], data " +
      "32-aligned and packed",
    () => {
      const file = readGguf(toGgufLora(gecDe, targets, llama("fp32")));
      const names = [0, 1, 2, 3].flatMap((n) =>
        ["attn_q", "attn_k", "attn_v", "attn_output"].flatMap((p) => [
          `blk.${n}.${p}.weight.lora_a`,
          `blk.${n}.${p}.weight.lora_b`,
        ]),
      );
      expect(file.tensors.map((t) => t.name)).toEqual(names);
      expect(file.tensors.map((t) => t.dims)).toEqual(
        targets.flatMap((t) => [
          [t.in, 8],
          [8, t.out],
        ]),
      );
      expect(file.dataOffset % 32).toBe(0);
      let next = 0;
      for (const t of file.tensors) {
        expect(t.type, t.name).toBe(GgmlType.F32);
        expect(t.offset, t.name).toBe(next);
        expect((file.dataOffset + t.offset) % 32, t.name).toBe(0);
        next += Math.ceil(t.data.byteLength / 32) * 32;
      }
    },
  );

  it("round-trips fp32 bit for bit: A as is, B of v and o as is, B of q and k with its rows reordered", () => {
    const tensors = tensorsOf(readGguf(toGgufLora(merged, targets, llama("fp32"))));
    for (const t of targets) {
      const f = merged.get(t.module)!;
      const base = baseName(t.module);
      expect(tensors.get(`${base}.lora_a`), t.module).toEqual(f.a);
      const b = tensors.get(`${base}.lora_b`)!;
      if (/[vo]_proj$/.test(t.module)) {
        expect(b, t.module).toEqual(f.b);
      } else {
        // The same rows, bit for bit, in another order (which one: the rotary test below).
        expect(b, t.module).not.toEqual(f.b);
        expect(rowsSorted(b, f.rank), t.module).toEqual(rowsSorted(f.b, f.rank));
      }
    }
  });

  it("gives q·k under ggml's rotary (adjacent pairs) what the factors give under the model's rotate_half", () => {
    const file = tensorsOf(readGguf(toGgufLora(merged, targets, llama("fp32"))));
    const heads = model.config!.n_heads!;
    const x = Float32Array.from({ length: 128 }, (_, i) => Math.sin(0.37 * i + 1));
    const y = Float32Array.from({ length: 128 }, (_, i) => Math.cos(0.11 * i * i));
    for (const layer of [0, 3]) {
      const [q, k] = ["q", "k"].map((p) => merged.get(`model.layers.${layer}.self_attn.${p}_proj`)!);
      const [qFile, kFile] = ["attn_q", "attn_k"].map((p) => ({
        rank: 8,
        a: file.get(`blk.${layer}.${p}.weight.lora_a`)!,
        b: file.get(`blk.${layer}.${p}.weight.lora_b`)!,
      }));
      const hf = scores(rotary(delta(q, x), 5, heads, "half"), rotary(delta(k, y), 2, heads, "half"), heads);
      const ggml = scores(
        rotary(delta(qFile, x), 5, heads, "pairs"),
        rotary(delta(kFile, y), 2, heads, "pairs"),
        heads,
      );
      for (let h = 0; h < heads; h++)
        expect(Math.abs(ggml[h] - hf[h]), `layer ${layer} head ${h}`).toBeLessThan(1e-6 * Math.max(1, Math.abs(hf[h])));
      // Not vacuous: the factors as they are, under ggml's rotary, give other scores.
      const unpermuted = scores(rotary(delta(q, x), 5, heads, "pairs"), rotary(delta(k, y), 2, heads, "pairs"), heads);
      expect(Math.max(...unpermuted.map((s, h) => Math.abs(s - hf[h])))).toBeGreaterThan(1e-3);
    }
  });

  it("round-trips fp16 within half precision, exactly for an adapter stored in fp16", () => {
    const half = readGguf(toGgufLora(merged, targets, llama("fp16")));
    expect(new Set(half.tensors.map((t) => t.type))).toEqual(new Set([GgmlType.F16]));
    const full = tensorsOf(readGguf(toGgufLora(merged, targets, llama("fp32"))));
    let worst = 0;
    for (const [name, got] of tensorsOf(half)) {
      const expected = full.get(name)!;
      expect(got.length).toBe(expected.length);
      // Below binary16's normal range (6.1e-5) the step is absolute: 2^-25 at most.
      for (let i = 0; i < got.length; i++)
        worst = Math.max(worst, Math.abs(got[i] - expected[i]) / Math.max(Math.abs(expected[i]), 2 ** -14));
    }
    expect(worst).toBeGreaterThan(0);
    expect(worst).toBeLessThan(HALF_RELATIVE);
    // gec-de is stored as fp16 and its scaling (alpha/r = 2) is a power of two: nothing to round.
    expect(tensorsOf(readGguf(toGgufLora(gecDe, targets, llama("fp16"))))).toEqual(
      tensorsOf(readGguf(toGgufLora(gecDe, targets, llama("fp32")))),
    );
  });

  it("refuses what llama.cpp could not load, naming it", () => {
    const lmHead = { module: "lm_head", in: 128, out: 41 };
    const withHead = new Map(gecDe).set("lm_head", {
      rank: 8,
      a: new Float32Array(8 * 128),
      b: new Float32Array(41 * 8),
    });
    expect(() => toGgufLora(withHead, [...targets, lmHead], llama("fp32"))).toThrow(RangeError);
    expect(() => toGgufLora(withHead, [...targets, lmHead], llama("fp32"))).toThrow(
      "lm_head: no GGUF tensor for this module",
    );
    expect(() => toGgufLora(withHead, targets, llama("fp32"))).toThrow("lm_head: not a LoRA target of the model");
    expect(() => toGgufLora(gecDe, targets, { ...llama("fp32"), architecture: "qwen2" })).toThrow(
      'architecture "qwen2": GGUF LoRA export is checked for llama only',
    );
    expect(() => toGgufLora(gecDe, targets, { architecture: "llama", dtype: "fp32" })).toThrow("give heads");
    expect(() => toGgufLora(gecDe, targets, { ...llama("fp32"), heads: 3 })).toThrow(
      "128 rows do not split into 3 heads",
    );
    const q = targets[0].module;
    const k = targets[1].module;
    const rank4 = new Map(gecDe).set(k, { rank: 4, a: new Float32Array(4 * 128), b: new Float32Array(128 * 4) });
    expect(() => toGgufLora(rank4, targets, llama("fp32"))).toThrow(`${k}: rank 4, ${q} has 8`);
    expect(() => toGgufLora(new Map(gecDe).set(q, { ...gecDe.get(q)!, rank: 4 }), targets, llama("fp32"))).toThrow(
      `${q}.lora_A: 1024 values, expected [4, 128]`,
    );
    const missing = new Map(gecDe);
    missing.delete(q);
    expect(() => toGgufLora(missing, targets, llama("fp32"))).toThrow(`${q}: no factors`);
  });

  it("rejects a file that is not GGUF v3 or does not hold together", () => {
    const bytes = toGgufLora(gecDe, targets, llama("fp16"));
    const patched = (at: number, set: (v: DataView) => void) => {
      const copy = bytes.slice();
      set(new DataView(copy.buffer, at));
      return copy;
    };
    expect(() => readGguf(patched(0, (v) => v.setUint8(0, 0x67)))).toThrow('magic is "gGUF"');
    expect(() => readGguf(patched(4, (v) => v.setUint32(0, 2, true)))).toThrow("version 2, only 3 is supported");
    expect(() => readGguf(bytes.subarray(0, 100))).toThrow("file ends inside");
    expect(() => readGguf(bytes.subarray(0, bytes.length - 64))).toThrow(
      "blk.3.attn_output.weight.lora_b: data runs past the end of the file",
    );
    // The first tensor info's offset is its last 8 bytes before the second's name.
    const file = readGguf(bytes);
    const second = new TextEncoder().encode(file.tensors[1].name);
    const at = indexOf(bytes, second) - 8 - 8; // name length u64, then back over the first tensor's offset u64
    expect(new DataView(bytes.buffer).getBigUint64(at, true)).toBe(0n);
    expect(() => readGguf(patched(at, (v) => v.setBigUint64(0, 4n, true)))).toThrow(
      "blk.0.attn_q.weight.lora_a: offset 4 is not a multiple of the alignment 32",
    );
  });
});

describe("a release in the gguf format", () => {
  let cluster: ClusterView;
  const profile = (formats: StoredProfile["formats"]): StoredProfile => ({
    id: "gguf-test",
    version: 1,
    updatedAt: new Date(0).toISOString(),
    modelId: model.modelId,
    budget: { maxAdapters: 1 },
    dtype: "fp16",
    formats,
    rank: 8,
    match: {},
    maxSubsets: 32,
    subsetQuorum: 2,
    taskSets: {},
    autoRecluster: false,
  });

  beforeAll(async () => {
    const members = await Promise.all(
      TASKS.map(async (id) => ({
        id,
        adapterSha256: await sha256Hex(await fixtureBytes(`adapters/${id}/adapter_model.safetensors`)),
        fewshotSha256: "",
        fewshot: 0,
      })),
    );
    const built = await buildMergedAdapter(env.BUCKET, targets, members, { method: "svd" });
    cluster = { cluster: 0, tasks: TASKS, ...built };
  });

  it("writes the merged adapter as a content-addressed GGUF blob at the profile's dtype", async () => {
    const [[gguf, peft]] = await storeReleaseBlobs(
      env.BUCKET,
      await encodeReleaseBlobs(env.BUCKET, profile(["gguf", "peft"]), [cluster], [cluster.tasks], model),
    );
    expect(gguf).toMatchObject({ format: "gguf", url: `/v1/adapters/${gguf.sha256}`, tasks: cluster.tasks });
    expect(peft.format).toBe("peft");
    const bytes = new Uint8Array(await (await env.BUCKET.get(blobKey(gguf.sha256)))!.arrayBuffer());
    expect(bytes.byteLength).toBe(gguf.bytes);
    expect(await sha256Hex(bytes)).toBe(gguf.sha256);
    const file = readGguf(bytes);
    expect(file.tensors).toHaveLength(32);
    expect(new Set(file.tensors.map((t) => t.type))).toEqual(new Set([GgmlType.F16]));
    expect(file.metadata.get("general.architecture")!.value).toBe("llama");
  });

  it("fails with a 422 naming the gap for a model the format cannot express", async () => {
    const headless: ModelContract = { ...model, config: {} };
    const error = await encodeReleaseBlobs(
      env.BUCKET,
      profile(["peft", "gguf"]),
      [cluster],
      [cluster.tasks],
      headless,
    ).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DomainError);
    expect({ kind: (error as DomainError).kind, code: (error as DomainError).code }).toEqual({
      kind: "unprocessable",
      code: "unsupported_format",
    });
    expect((error as DomainError).message).toContain("gguf for model d2c-char-lm: architecture llama: give heads");
  });
});

/** y = B (A x) for one module: the LoRA delta of its output. */
function delta(f: { rank: number; a: Float32Array; b: Float32Array }, x: Float32Array): Float64Array {
  const inDim = f.a.length / f.rank;
  const ax = Array.from({ length: f.rank }, (_, r) => x.reduce((s, xi, i) => s + f.a[r * inDim + i] * xi, 0));
  return Float64Array.from({ length: f.b.length / f.rank }, (_, o) =>
    ax.reduce((s, v, r) => s + f.b[o * f.rank + r] * v, 0),
  );
}

/**
 * Rotary position embedding per head at `position`, base 10000 (model.json's rope_theta).
 * "half": the model's rotate_half (tools/fixtures/model.py, as Hugging Face Llama): dim i turns
 * with dim i + d/2. "pairs": ggml's GGML_ROPE_TYPE_NORM, which llama.cpp uses for "llama": dim 2i
 * turns with 2i + 1. Both at the angle position * 10000^(-2i/d).
 */
function rotary(v: Float64Array, position: number, heads: number, layout: "half" | "pairs"): Float64Array {
  const d = v.length / heads;
  const out = new Float64Array(v.length);
  for (let h = 0; h < heads; h++) {
    for (let i = 0; i < d / 2; i++) {
      const angle = position * 10000 ** ((-2 * i) / d);
      const [u, w] = layout === "half" ? [h * d + i, h * d + i + d / 2] : [h * d + 2 * i, h * d + 2 * i + 1];
      out[u] = v[u] * Math.cos(angle) - v[w] * Math.sin(angle);
      out[w] = v[w] * Math.cos(angle) + v[u] * Math.sin(angle);
    }
  }
  return out;
}

/** Per head, q·k: the attention logit before scaling. */
function scores(q: Float64Array, k: Float64Array, heads: number): number[] {
  const d = q.length / heads;
  return Array.from({ length: heads }, (_, h) =>
    q.subarray(h * d, (h + 1) * d).reduce((s, v, i) => s + v * k[h * d + i], 0),
  );
}

function rowsSorted(m: Float32Array, width: number): string[] {
  return Array.from({ length: m.length / width }, (_, r) =>
    Array.from(m.subarray(r * width, (r + 1) * width)).join(","),
  ).sort();
}

function indexOf(haystack: Uint8Array, needle: Uint8Array): number {
  outer: for (let i = 0; i + needle.length <= haystack.length; i++) {
    for (let j = 0; j < needle.length; j++) if (haystack[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}
