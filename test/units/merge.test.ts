/**
 * The merge library against the PyTorch reference (tools/fixtures/merge.py): r2-fixtures/golden/
 * merges.json and merges/<method>.safetensors, written by tools/fixtures/golden.py during
 * `/usr/bin/python3 tools/fixtures/build.py --seed 0 --out r2-fixtures`; plus the properties the
 * methods promise. Merges are compared as delta W = B A per module (the SVD's signs are arbitrary).
 */
import { beforeAll, describe, expect, it } from "vitest";
import { mergeAdapters, MERGE_METHODS, toPeft, type MergeOptions } from "../../src/adapters/merge";
import { lowRankSvdMerge } from "../../src/adapters/merge/lowRank";
import { deltaW, denseSvdMerge } from "../../src/adapters/merge/svd";
import { parsePeftConfig, peftToFactors } from "../../src/adapters/peft";
import { zeroFactors, type AdapterFactors, type LoraFactors, type LoraTarget } from "../../src/adapters/factors";
import { readSafetensors, toFloat32 } from "../../src/adapters/safetensors";
import { fixtureBytes, fixtureJson } from "../worker/seed";

interface GoldenMerges {
  adapters: string[];
  weights: number[];
  rank: number;
  methods: Record<string, { density?: number }>;
}

/**
 * Both sides are float32 factors computed in different orders: measured worst 9.0e-8 (ties_svd delta W), 1.2e-7 (linear
 * A and B).
 */
const PARITY = 1e-5;
/** Identities that hold in exact arithmetic, up to float32 factors: measured worst ~1e-7. */
const EXACT = 1e-6;

let targets: readonly LoraTarget[];
let golden: GoldenMerges;
let adapters: AdapterFactors[];

async function fixtureAdapter(task: string): Promise<AdapterFactors> {
  const config = parsePeftConfig(await fixtureJson(`adapters/${task}/adapter_config.json`));
  return peftToFactors(config, await fixtureBytes(`adapters/${task}/adapter_model.safetensors`), targets);
}

/** ||B A - B' A'||_F / ||B' A'||_F for one module. */
function relativeError(merged: LoraFactors, reference: LoraFactors | Float64Array, target: LoraTarget): number {
  const mine = deltaW(merged, target);
  const ref = reference instanceof Float64Array ? reference : deltaW(reference, target);
  let diff = 0;
  let norm = 0;
  for (let i = 0; i < ref.length; i++) {
    diff += (mine[i] - ref[i]) ** 2;
    norm += ref[i] ** 2;
  }
  return Math.sqrt(diff / norm);
}

function worstError(merged: AdapterFactors, reference: (t: LoraTarget) => LoraFactors | Float64Array): number {
  return Math.max(...targets.map((t) => relativeError(merged.get(t.module)!, reference(t), t)));
}

/** sum w_i B_i A_i over fixture adapters, the delta every exact method must reproduce. */
const weightedDelta = (target: LoraTarget, weights: readonly number[], from = adapters) =>
  weightedDeltaOf(
    from.map((a) => a.get(target.module)!),
    weights,
    target,
  );

const bytes = (merged: AdapterFactors) => toPeft(merged, targets).safetensors;

beforeAll(async () => {
  targets = (await fixtureJson<{ loraTargets: LoraTarget[] }>("models/d2c-char-lm/model.json")).loraTargets;
  golden = await fixtureJson<GoldenMerges>("golden/merges.json");
  adapters = await Promise.all(golden.adapters.map(fixtureAdapter));
});

describe("golden parity with tools/fixtures/merge.py", () => {
  it.each(["linear", "cat", "svd", "ties_svd", "magnitude_prune_svd"])(
    "%s: delta W within 1e-5 relative (Frobenius) per module",
    async (method) => {
      const file = readSafetensors(await fixtureBytes(`golden/merges/${method}.safetensors`));
      const reference = (t: LoraTarget): LoraFactors => {
        const b = file.tensors.get(`base_model.model.${t.module}.lora_B.weight`)!;
        return {
          rank: b.shape[1],
          a: toFloat32(file.tensors.get(`base_model.model.${t.module}.lora_A.weight`)!),
          b: toFloat32(b),
        };
      };
      const options = { method, weights: golden.weights, rank: golden.rank, ...golden.methods[method] } as MergeOptions;
      const merged = mergeAdapters(adapters, targets, options);
      expect(worstError(merged, reference)).toBeLessThan(PARITY);
      for (const t of targets) expect(merged.get(t.module)!.rank, t.module).toBe(reference(t).rank);
      if (method === "linear" || method === "cat") {
        // No SVD, so no sign freedom: the factors themselves match.
        for (const t of targets) {
          const [mine, ref] = [merged.get(t.module)!, reference(t)];
          expect(largestDifference(mine.a, ref.a), `${t.module} A`).toBeLessThan(PARITY);
          expect(largestDifference(mine.b, ref.b), `${t.module} B`).toBeLessThan(PARITY);
        }
      }
    },
  );
});

describe("properties", () => {
  const weights = [0.5, 0.3, 0.2];

  it("cat is exact: its delta W is the weighted sum, at the summed rank", () => {
    const merged = mergeAdapters(adapters, targets, { method: "cat", weights });
    expect(merged.get(targets[0].module)!.rank).toBe(24);
    expect(worstError(merged, (t) => weightedDelta(t, weights))).toBeLessThan(EXACT);
  });

  it("svd with rank >= the summed rank is the weighted sum; below it, it keeps exactly `rank` components", () => {
    expect(
      worstError(mergeAdapters(adapters, targets, { method: "svd", weights, rank: 24 }), (t) =>
        weightedDelta(t, weights),
      ),
    ).toBeLessThan(EXACT);
    const padded = mergeAdapters(adapters, targets, { method: "svd", weights, rank: 30 });
    expect(padded.get(targets[0].module)!.rank).toBe(30);
    expect(worstError(padded, (t) => weightedDelta(t, weights))).toBeLessThan(EXACT);
  });

  it("the low-rank path equals the dense path, also for non-square modules and ranks that differ", () => {
    for (const t of targets) {
      const factors = adapters.map((a) => a.get(t.module)!);
      expect(
        relativeError(lowRankSvdMerge(factors, weights, t, 8), denseSvdMerge(factors, weights, t, 8), t),
        t.module,
      ).toBeLessThan(EXACT);
    }
    for (const target of [
      { module: "tall", in: 20, out: 48 },
      { module: "wide", in: 48, out: 20 },
    ]) {
      const factors = [synthetic(target, 3, 1), synthetic(target, 5, 2), synthetic(target, 2, 3)];
      const w = [0.7, -0.4, 1.1];
      const exact = weightedDeltaOf(factors, w, target);
      for (const rank of [10, 12]) {
        expect(relativeError(lowRankSvdMerge(factors, w, target, rank), exact, target), target.module).toBeLessThan(
          EXACT,
        );
        expect(relativeError(denseSvdMerge(factors, w, target, rank), exact, target), target.module).toBeLessThan(
          EXACT,
        );
      }
      const [lowRank, dense] = [lowRankSvdMerge(factors, w, target, 4), denseSvdMerge(factors, w, target, 4)];
      expect(relativeError(lowRank, dense, target), target.module).toBeLessThan(EXACT);
      expect([lowRank.a.length, lowRank.b.length, dense.a.length, dense.b.length]).toEqual([
        4 * target.in,
        target.out * 4,
        4 * target.in,
        target.out * 4,
      ]);
    }
  });

  it("is deterministic: the same inputs give the same bytes for every method", () => {
    for (const method of MERGE_METHODS) {
      const options = { method, weights, rank: 8 };
      expect(
        equalBytes(bytes(mergeAdapters(adapters, targets, options)), bytes(mergeAdapters(adapters, targets, options))),
        method,
      ).toBe(true);
    }
  });

  it("dare_ties_svd: the same seed gives identical bytes, another seed different ones", () => {
    const dare = (seed: number) =>
      bytes(mergeAdapters(adapters, targets, { method: "dare_ties_svd", weights, density: 0.5, seed }));
    expect(equalBytes(dare(7), dare(7))).toBe(true);
    expect(equalBytes(dare(7), dare(8))).toBe(false);
  });

  it("at density 1 nothing is pruned: magnitude_prune_svd is svd, dare_ties_svd is ties_svd", () => {
    const merge = (method: MergeOptions["method"]) =>
      mergeAdapters(adapters, targets, { method, weights, density: 1, rank: 8 });
    const svd = merge("svd");
    expect(worstError(merge("magnitude_prune_svd"), (t) => svd.get(t.module)!)).toBeLessThan(EXACT);
    expect(equalBytes(bytes(merge("dare_ties_svd")), bytes(merge("ties_svd")))).toBe(true);
  });

  it("ties_svd of one adapter at density 1 is that adapter times its weight", () => {
    const merged = mergeAdapters([adapters[0]], targets, { method: "ties_svd", weights: [0.5], density: 1, rank: 8 });
    expect(worstError(merged, (t) => weightedDelta(t, [0.5], [adapters[0]]))).toBeLessThan(EXACT);
  });

  it("weights default to 1/n", () => {
    const implicit = mergeAdapters(adapters, targets, { method: "linear" });
    const explicit = mergeAdapters(adapters, targets, { method: "linear", weights: [1 / 3, 1 / 3, 1 / 3] });
    expect(equalBytes(bytes(implicit), bytes(explicit))).toBe(true);
  });

  it("linear skips a module an adapter does not touch (zero factors of rank 1) instead of refusing its rank", () => {
    const untouched: AdapterFactors = new Map(targets.map((t) => [t.module, zeroFactors(t)]));
    const merged = mergeAdapters([adapters[0], untouched], targets, { method: "linear", weights: [0.25, 0.75] });
    expect(worstError(merged, (t) => weightedDelta(t, [0.25], [adapters[0]]))).toBeLessThan(EXACT);
  });

  it("fixes each component's sign: the largest-|.| entry of every column of B is positive", () => {
    const merged = mergeAdapters(adapters, targets, { method: "svd", weights, rank: 8 });
    for (const t of targets) {
      const { b, rank } = merged.get(t.module)!;
      for (let c = 0; c < rank; c++) {
        const column = Array.from({ length: t.out }, (_, o) => b[o * rank + c]);
        const largest = column.reduce((best, v) => (Math.abs(v) > Math.abs(best) ? v : best), 0);
        expect(largest, `${t.module} component ${c}`).toBeGreaterThan(0);
      }
    }
  });
});

describe("toPeft", () => {
  it.each(["svd", "cat", "linear"] as const)(
    "%s: peftToFactors reads back the same factors, with scaling 1",
    (method) => {
      const merged = mergeAdapters(adapters, targets, { method, weights: golden.weights, rank: 8 });
      const { config, safetensors } = toPeft(merged, targets, "d2c-char-lm");
      expect(config).toMatchObject({
        peft_type: "LORA",
        r: merged.get(targets[0].module)!.rank,
        base_model_name_or_path: "d2c-char-lm",
      });
      expect(config.lora_alpha).toBe(config.r);
      const back = peftToFactors(parsePeftConfig(JSON.parse(JSON.stringify(config))), safetensors, targets);
      for (const t of targets) {
        const [m, r] = [merged.get(t.module)!, back.get(t.module)!];
        expect(r.rank).toBe(m.rank);
        expect(equalBytes(r.a, m.a) && equalBytes(r.b, m.b), t.module).toBe(true);
      }
    },
  );

  it("refuses modules of different ranks: a PEFT config has one r", () => {
    const merged = new Map(mergeAdapters(adapters, targets, { method: "svd", rank: 8 }));
    merged.set(targets[3].module, zeroFactors(targets[3]));
    expectRangeError(
      () => toPeft(merged, targets),
      `module ${targets[3].module} has rank 1, ${targets[0].module} has 8: a PEFT adapter has one r for all modules`,
    );
  });
});

describe("errors", () => {
  const q = () => targets[0];
  const withModule = (adapter: AdapterFactors, module: string, factors: LoraFactors | undefined): AdapterFactors => {
    const changed = new Map(adapter);
    if (factors) changed.set(module, factors);
    else changed.delete(module);
    return changed;
  };

  it.each([
    [
      "a short A",
      () => [
        adapters[0],
        withModule(adapters[1], q().module, { ...adapters[1].get(q().module)!, a: new Float32Array(8 * 127) }),
      ],
      {},
      `adapter 1, module ${"model.layers.0.self_attn.q_proj"}: A has 1016 values, expected [8, 128] = 1024`,
    ],
    [
      "a rank its factors do not have",
      () => [withModule(adapters[0], q().module, { ...adapters[0].get(q().module)!, rank: 4 })],
      {},
      "adapter 0, module model.layers.0.self_attn.q_proj: A has 1024 values, expected [4, 128] = 512",
    ],
    [
      "a missing module",
      () => [adapters[0], withModule(adapters[2], q().module, undefined)],
      {},
      "adapter 1: no factors for module model.layers.0.self_attn.q_proj",
    ],
    [
      "a module outside the targets",
      () => [withModule(adapters[0], "lm_head", adapters[0].get(q().module))],
      {},
      "adapter 0: module lm_head is not one of the 16 targets",
    ],
    [
      "a NaN",
      () => [
        withModule(adapters[0], q().module, { ...adapters[0].get(q().module)!, b: new Float32Array(1024).fill(NaN) }),
      ],
      {},
      "adapter 0, module model.layers.0.self_attn.q_proj: B[0] is NaN, not finite",
    ],
    ["no adapters", () => [], {}, "no adapters to merge"],
    [
      "an unknown method",
      () => adapters,
      { method: "ties" },
      'merge method "ties" is not one of linear, cat, svd, ties_svd, dare_ties_svd, magnitude_prune_svd',
    ],
    ["too few weights", () => adapters, { weights: [0.5, 0.5] }, "weights has 2 entries for 3 adapters"],
    ["a NaN weight", () => adapters, { weights: [0.5, NaN, 0.5] }, "weights[1] is NaN, not a finite number"],
    ["density 0", () => adapters, { density: 0 }, "density must be in (0, 1], got 0"],
    ["density above 1", () => adapters, { density: 1.5 }, "density must be in (0, 1], got 1.5"],
    ["a fractional rank", () => adapters, { rank: 2.5 }, "rank must be an integer in 1..64, got 2.5"],
    ["rank 65", () => adapters, { rank: 65 }, "rank must be an integer in 1..64, got 65"],
    ["a negative seed", () => adapters, { seed: -1 }, "seed must be an integer in [0, 2^32), got -1"],
  ] as const)("%s is a RangeError naming it", (_, inputs, options, message) => {
    expectRangeError(() => mergeAdapters(inputs(), targets, { method: "svd", ...options } as MergeOptions), message);
  });

  it("linear refuses ranks that differ in a module", () => {
    const rank4 = synthetic(q(), 4, 9);
    expectRangeError(
      () => mergeAdapters([adapters[0], withModule(adapters[1], q().module, rank4)], targets, { method: "linear" }),
      "linear merge of model.layers.0.self_attn.q_proj: ranks differ (adapter 0: 8, adapter 1: 4); use cat or " +
        "the svd family",
    );
  });
});

/** Deterministic factors with entries in [-1, 1): test data for shapes the fixtures lack. */
function synthetic(target: LoraTarget, rank: number, seed: number): LoraFactors {
  let state = seed;
  const next = () => (state = (Math.imul(state, 1103515245) + 12345) >>> 0) / 2 ** 31 - 1;
  return {
    rank,
    a: Float32Array.from({ length: rank * target.in }, next),
    b: Float32Array.from({ length: target.out * rank }, next),
  };
}

/** sum w_i B_i A_i in float64. */
function weightedDeltaOf(
  factors: readonly LoraFactors[],
  weights: readonly number[],
  target: LoraTarget,
): Float64Array {
  const sum = new Float64Array(target.out * target.in);
  factors.forEach((f, i) => deltaW(f, target).forEach((v, j) => (sum[j] += weights[i] * v)));
  return sum;
}

/** max |x - y| / max |y|. */
function largestDifference(x: Float32Array, y: Float32Array): number {
  let diff = 0;
  let scale = 0;
  y.forEach((v, i) => {
    diff = Math.max(diff, Math.abs(x[i] - v));
    scale = Math.max(scale, Math.abs(v));
  });
  return diff / scale;
}

function expectRangeError(run: () => unknown, message: string): void {
  let thrown: unknown;
  try {
    run();
  } catch (e) {
    thrown = e;
  }
  expect(thrown).toBeInstanceOf(RangeError);
  expect((thrown as RangeError).message).toBe(message);
}

function equalBytes(a: ArrayBufferView, b: ArrayBufferView): boolean {
  const [x, y] = [
    new Uint8Array(a.buffer, a.byteOffset, a.byteLength),
    new Uint8Array(b.buffer, b.byteOffset, b.byteLength),
  ];
  return x.length === y.length && x.every((v, i) => v === y[i]);
}
