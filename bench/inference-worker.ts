/**
 * Times forward passes of the reference model inside workerd: a batch of `batch` rows of
 * `sequence` tokens, no adapter and a rank-8 adapter on every target.
 */
import onnx from "../r2-fixtures/models/d2c-char-lm/model.onnx";
import contractJson from "../r2-fixtures/models/d2c-char-lm/model.json";
import type { AdapterFactors, LoraFactors } from "../src/adapters/peft";
import type { Batch } from "../src/inference/batch";
import type { ModelContract } from "../src/inference/contract";
import { forward, type LoadedModel } from "../src/inference/model";
import { createSession } from "../src/inference/ort";

const contract = contractJson as unknown as ModelContract;
let model: Promise<LoadedModel> | undefined;

function fullBatch(size: number, width: number): Batch {
  const ids = new BigInt64Array(size * width);
  for (let i = 0; i < ids.length; i++) ids[i] = BigInt(4 + (i % 30));
  return { size, width, inputIds: ids, attentionMask: new BigInt64Array(size * width).fill(1n), scored: [], targets: new Int32Array(size * width) };
}

function rank8(): AdapterFactors {
  const factors = new Map<string, LoraFactors>();
  for (const t of contract.loraTargets) {
    factors.set(t.module, { rank: 8, a: new Float32Array(8 * t.in).fill(0.01), b: new Float32Array(t.out * 8).fill(0.01) });
  }
  return factors;
}

export default {
  async fetch(request: Request): Promise<Response> {
    const url = new URL(request.url);
    const size = Number(url.searchParams.get("batch") ?? 10);
    const width = Number(url.searchParams.get("sequence") ?? contract.maxSequence);
    const runs = Number(url.searchParams.get("runs") ?? 30);
    const startedLoad = performance.now();
    model ??= createSession(new Uint8Array(onnx)).then((session) => ({ contract, session, tokenizer: undefined as never }));
    const loaded = await model;
    const loadMs = performance.now() - startedLoad;
    const batch = fullBatch(size, width);
    const result: Record<string, number[]> = { none: [], rank8: [] };
    for (const [name, adapter] of [["none", null], ["rank8", rank8()]] as const) {
      await forward(loaded, batch, adapter); // warm-up
      for (let i = 0; i < runs; i++) {
        const t0 = performance.now();
        await forward(loaded, batch, adapter);
        result[name].push(performance.now() - t0);
      }
    }
    return Response.json({ batch: size, sequence: width, runs, loadMs, timings: result });
  },
};
