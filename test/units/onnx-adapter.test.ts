/**
 * The `.onnx_adapter` writer (src/delivery/onnxAdapter.ts) and the tests' reader
 * (test/readers/onnxAdapter.ts) on fixture adapters, and floatToHalf against halfToFloat over
 * every binary16 value. That ONNX Runtime itself loads the files and runs the model with them:
 * test/fixtures/onnx-adapter.test.ts.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { mergeAdapters } from "../../src/adapters/merge";
import { parsePeftConfig, peftToFactors } from "../../src/adapters/peft";
import type { AdapterFactors, LoraTarget } from "../../src/adapters/factors";
import { floatToHalf, halfToFloat, toFloat32 } from "../../src/adapters/safetensors";
import { OnnxDataType, toOnnxAdapter } from "../../src/delivery/onnxAdapter";
import { readOnnxAdapter, type OnnxAdapterParameter } from "../readers/onnxAdapter";
import { fixtureBytes, fixtureJson } from "../worker/seed";

/** binary16 keeps 11 significant bits: round-to-nearest is within 2^-11 relative (normal range). */
const HALF_RELATIVE = 1e-3;

let targets: readonly LoraTarget[];
let gecDe: AdapterFactors;
/** An svd merge: float32 values with no short binary16 form, unlike the fp16-stored fixtures. */
let merged: AdapterFactors;

async function fixtureAdapter(task: string): Promise<AdapterFactors> {
  const config = parsePeftConfig(await fixtureJson(`adapters/${task}/adapter_config.json`));
  return peftToFactors(config, await fixtureBytes(`adapters/${task}/adapter_model.safetensors`), targets);
}

const values = (p: OnnxAdapterParameter) =>
  toFloat32({ dtype: p.dataType === OnnxDataType.FLOAT16 ? "F16" : "F32", shape: p.dims, bytes: p.raw });

/** The parameters as name -> float32 values. */
const parametersOf = (bytes: Uint8Array) => new Map(readOnnxAdapter(bytes).parameters.map((p) => [p.name, values(p)]));

beforeAll(async () => {
  targets = (await fixtureJson<{ loraTargets: LoraTarget[] }>("models/d2c-char-lm/model.json")).loraTargets;
  gecDe = await fixtureAdapter("gec-de");
  merged = mergeAdapters([gecDe, await fixtureAdapter("gec-en")], targets, { method: "svd" });
});

describe("toOnnxAdapter / readOnnxAdapter", () => {
  it("names one parameter per graph input of the model, with the contract's dims", () => {
    const file = readOnnxAdapter(toOnnxAdapter(gecDe, targets, { dtype: "fp32" }));
    expect(targets).toHaveLength(16);
    expect(file.parameters.map((p) => [p.name, p.dims])).toEqual(
      targets.flatMap((t) => [
        [`${t.module}.lora_A`, [8, t.in]],
        [`${t.module}.lora_B`, [t.out, 8]],
      ]),
    );
  });

  it("writes the TORT identifier, format version 1 and the versions asked for", () => {
    const bytes = toOnnxAdapter(gecDe, targets, { dtype: "fp16", modelVersion: 3, adapterVersion: 42 });
    expect(new TextDecoder().decode(bytes.subarray(4, 8))).toBe("TORT");
    expect(readOnnxAdapter(bytes)).toMatchObject({ formatVersion: 1, adapterVersion: 42, modelVersion: 3 });
    expect(readOnnxAdapter(toOnnxAdapter(gecDe, targets, { dtype: "fp16" }))).toMatchObject({
      adapterVersion: 0,
      modelVersion: 0,
    });
  });

  it("round-trips fp32 bit for bit, with raw_data 8-aligned in the file (force_align)", () => {
    const bytes = toOnnxAdapter(merged, targets, { dtype: "fp32" });
    const file = readOnnxAdapter(bytes);
    for (const p of file.parameters) {
      expect(p.dataType).toBe(OnnxDataType.FLOAT);
      expect(p.raw.byteOffset % 8, p.name).toBe(0);
    }
    const parameters = parametersOf(bytes);
    for (const t of targets) {
      expect(parameters.get(`${t.module}.lora_A`)).toEqual(merged.get(t.module)!.a);
      expect(parameters.get(`${t.module}.lora_B`)).toEqual(merged.get(t.module)!.b);
    }
  });

  it("round-trips fp16 within half precision (and exactly for an adapter stored in fp16)", () => {
    const parameters = parametersOf(toOnnxAdapter(merged, targets, { dtype: "fp16" }));
    let worst = 0;
    for (const t of targets) {
      const f = merged.get(t.module)!;
      for (const [name, expected] of [
        [`${t.module}.lora_A`, f.a],
        [`${t.module}.lora_B`, f.b],
      ] as const) {
        const got = parameters.get(name)!;
        expect(got.length).toBe(expected.length);
        for (let i = 0; i < got.length; i++) {
          // Below binary16's normal range (6.1e-5) the step is absolute: 2^-25 at most.
          worst = Math.max(worst, Math.abs(got[i] - expected[i]) / Math.max(Math.abs(expected[i]), 2 ** -14));
        }
      }
    }
    expect(worst).toBeGreaterThan(0);
    expect(worst).toBeLessThan(HALF_RELATIVE);
    // gec-de is stored as fp16 and its scaling (alpha/r = 2) is a power of two: nothing to round.
    const exact = parametersOf(toOnnxAdapter(gecDe, targets, { dtype: "fp16" }));
    for (const t of targets) expect(exact.get(`${t.module}.lora_B`)).toEqual(gecDe.get(t.module)!.b);
  });

  it("refuses factors that do not fit the model, naming the input", () => {
    const wrong = new Map(gecDe);
    const q = targets[0].module;
    wrong.set(q, { ...gecDe.get(q)!, rank: 4 });
    expect(() => toOnnxAdapter(wrong, targets, { dtype: "fp32" })).toThrow(
      `${q}.lora_A: 1024 values, expected [4, 128]`,
    );
    const missing = new Map(gecDe);
    missing.delete(q);
    expect(() => toOnnxAdapter(missing, targets, { dtype: "fp32" })).toThrow(`${q}: no factors`);
    const extra = new Map(gecDe).set("lm_head", gecDe.get(q)!);
    expect(() => toOnnxAdapter(extra, targets, { dtype: "fp32" })).toThrow("lm_head: not a LoRA target");
    expect(() => toOnnxAdapter(gecDe, targets, { dtype: "fp32", modelVersion: 2 ** 31 })).toThrow(
      "modelVersion must be an int32",
    );
  });

  it("rejects a file that is not an adapter, or of another format version", () => {
    const bytes = toOnnxAdapter(gecDe, targets, { dtype: "fp16" });
    expect(() => readOnnxAdapter(bytes.subarray(0, 4))).toThrow("too short");
    const other = bytes.slice();
    other.set(new TextEncoder().encode("ORTM"), 4);
    expect(() => readOnnxAdapter(other)).toThrow('file identifier is "ORTM", expected "TORT"');
    // format_version is the root table's first field: find it through the vtable and bump it.
    const view = new DataView(bytes.slice().buffer);
    const root = view.getUint32(0, true);
    const vtable = root - view.getInt32(root, true);
    view.setInt32(root + view.getUint16(vtable + 4, true), 2, true);
    expect(() => readOnnxAdapter(new Uint8Array(view.buffer))).toThrow("format version 2, only 1 is supported");
    // Cut files: flatbuffers builds back to front, so the first parameter sits at the end.
    expect(() => readOnnxAdapter(bytes.subarray(0, bytes.length - 4096))).toThrow("parameter 0 lies outside the file");
    expect(() => readOnnxAdapter(bytes.subarray(0, bytes.length - 8))).toThrow(
      "parameter 0 name runs past the end of the file",
    );
  });
});

describe("floatToHalf", () => {
  it("inverts halfToFloat on every binary16 value but NaN", () => {
    for (let h = 0; h < 0x10000; h++) {
      if ((h & 0x7c00) === 0x7c00 && h & 0x3ff) continue;
      if (floatToHalf(halfToFloat(h)) !== h) expect(floatToHalf(halfToFloat(h)), `0x${h.toString(16)}`).toBe(h);
    }
    expect(Number.isNaN(halfToFloat(floatToHalf(NaN)))).toBe(true);
  });

  it("rounds to nearest, ties to even, between every pair of neighbours", () => {
    for (let h = 0; h < 0x7bff; h++) {
      const [lo, hi] = [halfToFloat(h), halfToFloat(h + 1)];
      const even = h % 2 === 0 ? h : h + 1;
      const mid = (lo + hi) / 2; // exact in float32: binary16 neighbours differ by one bit
      const cases: Array<[number, number]> = [
        [mid, even],
        [Math.fround(mid + (hi - lo) / 8), h + 1],
        [Math.fround(mid - (hi - lo) / 8), h],
      ];
      for (const [value, expected] of cases) {
        if (floatToHalf(value) !== expected)
          expect(floatToHalf(value), `${value} between 0x${h.toString(16)} and its successor`).toBe(expected);
      }
    }
    expect(floatToHalf(65520)).toBe(0x7c00); // halfway past the largest finite half: ties to "even" infinity
    expect(floatToHalf(65519)).toBe(0x7bff);
    expect(floatToHalf(2 ** -25)).toBe(0); // halfway to the smallest subnormal: ties to even zero
    expect(floatToHalf(-(2 ** -25) * 1.5)).toBe(0x8001);
    expect(floatToHalf(-0)).toBe(0x8000);
  });
});
