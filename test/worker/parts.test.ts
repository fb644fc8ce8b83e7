/**
 * Adapter parts (issue 21, first step): blockwise int8/int4 with fp16 scales, a task's own update
 * truncated by SVD, its bytes as budgets count them, and its file, on a reference-world adapter.
 * Reference values are computed here from the definitions (the dense delta W and its SVD).
 */
import { Matrix, SingularValueDecomposition } from "ml-matrix";
import { beforeAll, describe, expect, it } from "vitest";
import { parsePeftConfig, peftToFactors } from "../../src/adapters/peft";
import type { AdapterFactors, LoraTarget } from "../../src/adapters/factors";
import { deltaW } from "../../src/adapters/merge/svd";
import { halfToFloat } from "../../src/adapters/safetensors";
import { decodePart, encodePart, partHeaderBytes, PartFileError } from "../../src/adapters/parts/partFile";
import { materialise, privatePart, privatePartBytes } from "../../src/adapters/parts/privatePart";
import { BLOCK, dequantize, PART_DTYPES, quantize, storedBytes } from "../../src/adapters/parts/quantize";
import type { ModelContract } from "../../src/inference/contract";
import { MODEL } from "./api";
import { fixtureBytes, fixtureJson } from "./seed";

let targets: readonly LoraTarget[];
let adapter: AdapterFactors;

beforeAll(async () => {
  targets = (await fixtureJson<ModelContract>(`models/${MODEL}/model.json`)).loraTargets;
  const config = parsePeftConfig(await fixtureJson(`adapters/gec-de/adapter_config.json`));
  adapter = peftToFactors(config, await fixtureBytes("adapters/gec-de/adapter_model.safetensors"), targets);
});

/** ||delta W(x) - delta W(y)||_F / ||delta W(y)||_F over every module. */
function relativeError(x: AdapterFactors, y: AdapterFactors): number {
  let diff = 0;
  let norm = 0;
  for (const t of targets) {
    const dx = deltaW(x.get(t.module)!, t);
    const dy = deltaW(y.get(t.module)!, t);
    for (let i = 0; i < dx.length; i++) {
      diff += (dx[i] - dy[i]) ** 2;
      norm += dy[i] ** 2;
    }
  }
  return Math.sqrt(diff / norm);
}

describe("blockwise quantisation", () => {
  it("stores exactly storedBytes, and every value within half a step of its block's fp16 scale", () => {
    for (const length of [1, 31, 32, 33, 1000]) {
      const values = Float32Array.from({ length }, (_, i) => Math.sin(i * 1.7) * (1 + (i % 7)));
      for (const dtype of PART_DTYPES) {
        const stored = quantize(values, dtype);
        expect(stored.data.byteLength + 2 * stored.scales.length).toBe(storedBytes(length, dtype));
        const back = dequantize(stored);
        for (let i = 0; i < length; i++) {
          const scale = halfToFloat(stored.scales[Math.floor(i / BLOCK)] ?? 0);
          // nf3's widest gap between levels is 1 - 0.568 of the block's max.
          const step = dtype === "fp16" ? Math.abs(values[i]) * 2 ** -10 : dtype === "nf3" ? 0.432 * scale : scale;
          // Half a step, and the scale's own fp16 rounding (at most 2^-11 of the block's max) on the largest value.
          expect(Math.abs(back[i] - values[i])).toBeLessThanOrEqual(step / 2 + Math.abs(values[i]) * 2 ** -10 + 1e-12);
        }
      }
    }
  });

  it("stores nf3 as 3-bit indices of the nearest normal-quantile level, across byte boundaries", () => {
    const levels = [-1, -0.568, -0.2658, 0, 0.1977, 0.4092, 0.6567, 1];
    // Each level exactly, in a block whose max is 1, then a block of values between levels.
    const values = Float32Array.from([
      ...levels,
      ...levels,
      ...levels,
      ...levels,
      ...Array.from({ length: 32 }, (_, i) => -1 + i / 16),
    ]);
    const stored = quantize(values, "nf3");
    expect(stored.data.byteLength).toBe(Math.ceil((values.length * 3) / 8));
    const back = dequantize(stored);
    for (let i = 0; i < 32; i++) expect(back[i]).toBeCloseTo(values[i], 3);
    for (let i = 32; i < values.length; i++) {
      const nearest = Math.min(...levels.map((l) => Math.abs(l - values[i])));
      expect(Math.abs(back[i] - values[i])).toBeCloseTo(nearest, 3);
    }
  });

  it("keeps an all-zero block zero and int4 within -7..7 steps", () => {
    const values = new Float32Array(64);
    values.fill(3, 32);
    const stored = quantize(values, "int4");
    expect([...dequantize(stored).subarray(0, 32)].every((v) => v === 0)).toBe(true);
    expect(dequantize(stored)[40]).toBeCloseTo(3, 2);
  });
});

describe("a private part", () => {
  it(
    "at the adapter's own rank and fp16 is the adapter to fp16 precision; cut to rank r it loses exactly " +
      "the trailing singular values",
    () => {
      const own = adapter.get(targets[0].module)!.rank;
      expect(
        relativeError(materialise(privatePart("gec-de", adapter, targets, own, "fp16"), targets), adapter),
      ).toBeLessThan(2e-3);
      let previous = Infinity;
      for (let rank = 1; rank < own; rank++) {
        const cut = materialise(privatePart("gec-de", adapter, targets, rank, "fp16"), targets);
        // Eckart-Young: the best rank-r approximation leaves sqrt(sum of the trailing sigma^2) per module.
        let trailing = 0;
        let total = 0;
        for (const t of targets) {
          const s = new SingularValueDecomposition(Matrix.from1DArray(t.out, t.in, deltaW(adapter.get(t.module)!, t)))
            .diagonal;
          s.forEach((sigma, i) => {
            total += sigma ** 2;
            if (i >= rank) trailing += sigma ** 2;
          });
        }
        const error = relativeError(cut, adapter);
        expect(error).toBeCloseTo(Math.sqrt(trailing / total), 2);
        expect(error).toBeLessThan(previous);
        previous = error;
      }
    },
  );

  it("costs privatePartBytes, and int4 is a little over a quarter of fp16", () => {
    for (const dtype of PART_DTYPES) {
      const part = privatePart("gec-de", adapter, targets, 3, dtype);
      const bytes = [...part.modules.values()].reduce(
        (n, m) => n + m.a.data.byteLength + 2 * m.a.scales.length + m.bT.data.byteLength + 2 * m.bT.scales.length,
        0,
      );
      expect(bytes).toBe(privatePartBytes(targets, 3, dtype));
    }
    const ratio = privatePartBytes(targets, 3, "int4") / privatePartBytes(targets, 3, "fp16");
    expect(ratio).toBeGreaterThan(0.25);
    expect(ratio).toBeLessThan(0.3);
  });

  it(
    "round-trips through its file: the decoded part materialises to the same bytes; a damaged file is " +
      "refused by name",
    () => {
      const part = privatePart("gec-de", adapter, targets, 2, "int4");
      const file = encodePart(part, targets);
      // The header: "D2CP", version 2, kind 1, dtype int4 (2), the task id's 6 bytes, rank 2, then "gec-de".
      expect([...file.subarray(0, 16)]).toEqual([
        0x44,
        0x32,
        0x43,
        0x50,
        2,
        1,
        2,
        6,
        2,
        0,
        ...new TextEncoder().encode("gec-de"),
      ]);
      expect(partHeaderBytes("gec-de")).toBe(16);
      expect(file.byteLength).toBe(16 + privatePartBytes(targets, 2, "int4"));
      const decoded = decodePart(file, targets);
      expect(decoded).toMatchObject({ kind: "private", task: "gec-de", rank: 2, dtype: "int4" });
      const [a, b] = [materialise(part, targets), materialise(decoded, targets)];
      for (const t of targets) {
        expect(b.get(t.module)!.a).toEqual(a.get(t.module)!.a);
        expect(b.get(t.module)!.b).toEqual(a.get(t.module)!.b);
      }
      // nf3's 3-bit stream too: its bytes are what privatePartBytes counts, and they read back the same.
      const nf3 = privatePart("gec-de", adapter, targets, 3, "nf3");
      const nf3File = encodePart(nf3, targets);
      expect(nf3File.byteLength).toBe(partHeaderBytes("gec-de") + privatePartBytes(targets, 3, "nf3"));
      const [x, y] = [materialise(nf3, targets), materialise(decodePart(nf3File, targets), targets)];
      for (const t of targets) expect(y.get(t.module)!.b).toEqual(x.get(t.module)!.b);
      expect(() => decodePart(file.subarray(0, file.byteLength - 1), targets)).toThrow(PartFileError);
      expect(() => decodePart(file.subarray(0, file.byteLength - 1), targets)).toThrow(
        `part: ${file.byteLength - 1} bytes, a rank-2 int4 part for these ${targets.length} modules has ` +
          `${file.byteLength}`,
      );
      expect(() => decodePart(file, [...targets, { module: "model.layers.9.mlp.up_proj", in: 8, out: 8 }])).toThrow(
        /a rank-2 int4 part/,
      );
      // A dtype code no reader knows, another version, and not a part at all.
      const forged = Uint8Array.from(file);
      forged[6] = 9;
      expect(() => decodePart(forged, targets)).toThrow("dtype code 9 is none of fp16, int8, int4, nf3");
      forged.set([3, 2], 4);
      expect(() => decodePart(forged, targets)).toThrow("part: version 3, this reader knows 2");
      expect(() => decodePart(new TextEncoder().encode('{"format":"d2c-part"}'), targets)).toThrow(
        "not a d2c part file",
      );
    },
  );
});
