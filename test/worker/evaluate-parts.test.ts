/**
 * `POST /v1/evaluate` with `part` (issue 21): a task's own adapter truncated and quantised as a
 * private part, evaluated as materialised from the part's file in workerd's onnxruntime-web.
 * The reference figures are the experiment's (docs/compressed.json, `npm run experiment -- --compressed`,
 * the same modules on onnxruntime-node): the ordering of the configurations must hold here too.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { partHeaderBytes } from "../../src/adapters/parts/partFile";
import { privatePartBytes } from "../../src/adapters/parts/privatePart";
import type { ModelContract } from "../../src/inference/contract";
import { call, MODEL, registerModel, uploadAdapter, uploadExamples } from "./api";
import { fixtureJson } from "./seed";

const evaluate = (body: unknown) => call("/v1/evaluate", { method: "POST", body: JSON.stringify(body) });
const lossOf = async (body: unknown) => (await (await evaluate(body)).json()) as { loss: number; partBytes?: number };

beforeAll(async () => {
  expect((await registerModel()).status).toBe(201);
  expect((await uploadAdapter("gec-de")).status).toBe(201);
  expect((await uploadExamples("gec-de", "fewshot")).status).toBe(201);
});

describe("evaluating a private part", () => {
  it(
    "at the adapter's rank in fp16 scores as the adapter; fewer ranks and bits score worse, and the answer " +
      "names the part's bytes",
    async () => {
      const targets = (await fixtureJson<ModelContract>(`models/${MODEL}/model.json`)).loraTargets;
      const own = await lossOf({ task: "gec-de", adapter: "gec-de" });
      const full = await lossOf({ task: "gec-de", adapter: "gec-de", part: { rank: 8, dtype: "fp16" } });
      expect(Math.abs(full.loss - own.loss)).toBeLessThan(1e-3);
      const rank3 = await lossOf({ task: "gec-de", adapter: "gec-de", part: { rank: 3, dtype: "int4" } });
      const rank1 = await lossOf({ task: "gec-de", adapter: "gec-de", part: { rank: 1, dtype: "int4" } });
      expect(rank1.loss).toBeGreaterThan(rank3.loss);
      expect(rank3.loss).toBeGreaterThan(own.loss);
      // The part file: its header (16 bytes for gec-de), then exactly what rank and dtype store.
      expect(rank3.partBytes).toBe(partHeaderBytes("gec-de") + privatePartBytes(targets, 3, "int4"));
    },
  );

  it(
    "refuses a part of a merged adapter or the base model, a rank above the adapter's, and an " + "unknown field",
    async () => {
      for (const [body, message] of [
        [{ task: "gec-de", adapter: "none", part: { rank: 1, dtype: "int4" } }, "part: give a task id as adapter"],
        [
          { task: "gec-de", adapter: "gec-de", part: { rank: 9, dtype: "int4" } },
          "part.rank: 9 is above adapter gec-de's rank 8",
        ],
        [{ task: "gec-de", adapter: "gec-de", part: { rank: 2, dtype: "int3" } }, "part.dtype"],
        [{ task: "gec-de", adapter: "gec-de", part: { rank: 2, dtype: "int4", scale: 2 } }, "part.scale"],
      ] as const) {
        const response = await evaluate(body);
        expect(response.status).toBe(400);
        expect(((await response.json()) as { error: { message: string } }).error.message).toContain(message);
      }
    },
  );
});
