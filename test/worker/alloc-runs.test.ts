/**
 * A byte budget spent by measured quality, through the Worker (issue 21): a `parts` profile, an
 * alloc run for it (every task under each part configuration and under the base model, then the
 * knapsack), its release of part files, and the reference client materialising each routed
 * task's plain LoRA. What the device runs must be what the run measured: the same PEFT bytes,
 * and the same few-shot loss through POST /v1/evaluate.
 */
import { exports } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { MemoryStore, OtaClient } from "../../clients/ts";
import { privatePartBytes } from "../../src/adapters/parts/privatePart";
import type { SignedManifest, SigningKeys } from "../../src/delivery/manifest";
import type { ModelContract } from "../../src/inference/contract";
import { sha256Hex } from "../../src/storage/sha256";
import { call, MODEL, publishKmeans, registerModel, uploadAdapter, uploadExamples, waitFor } from "./api";
import { fixtureJson } from "./seed";

const TASKS = ["gec-de", "gec-en", "qa-de", "qa-en", "reply-de", "reply-en"];
const CONFIGS = [
  { rank: 1, dtype: "int4" },
  { rank: 3, dtype: "int4" },
  { rank: 8, dtype: "int8" },
] as const;
const post = (body: unknown) => ({ method: "POST", body: JSON.stringify(body) });
const put = (body: unknown) => ({ method: "PUT", body: JSON.stringify(body) });

let targets: ModelContract["loraTargets"];
/** 12.5% of the tasks' own adapters at fp16, as the issue's budget. */
let maxBytes: number;

beforeAll(async () => {
  expect((await registerModel()).status).toBe(201);
  for (const task of TASKS) {
    expect((await uploadAdapter(task)).status).toBe(201);
    expect((await uploadExamples(task, "fewshot")).status).toBe(201);
  }
  targets = (await fixtureJson<ModelContract>(`models/${MODEL}/model.json`)).loraTargets;
  maxBytes = Math.floor(0.125 * TASKS.length * privatePartBytes(targets, 8, "fp16"));
  const profile = { modelId: MODEL, budget: { maxBytes }, formats: ["parts"], maxSubsets: 0 };
  expect((await call("/v1/profiles/phones-parts", put(profile))).status).toBe(200);
});

describe("an alloc run for a parts profile", () => {
  it(
    "measures every task under each part and none, fits the budget, and ships what the device " +
      "materialises byte for byte",
    async () => {
      const started = await call(
        "/v1/runs",
        post({ method: "alloc", profile: "phones-parts", parts: { configs: CONFIGS } }),
      );
      expect(started.status).toBe(202);
      const { runId } = (await started.json()) as { runId: string };
      const run = await waitFor(runId, undefined, 120);
      expect(run.state).toBe("done");
      // One iteration per configuration and one for the base model, each task alone in each.
      expect(run.iterations).toHaveLength(CONFIGS.length + 1);
      expect(run.iterations.every((i) => i.units === TASKS.length && i.evaluated === TASKS.length)).toBe(true);
      // Counted by the evaluator, one few-shot batch per task and iteration.
      expect(run.cost.forwardPasses).toBe(TASKS.length * (CONFIGS.length + 1));
      const result = run.result!;
      expect(result.budget!.maxBytes).toBe(maxBytes);
      expect(result.budget!.bytes).toBeLessThanOrEqual(maxBytes);
      expect(result.budget!.bytes).toBe(result.clusters.reduce((n, c) => n + c.bytes, 0));
      const withParts = result.clusters.filter((c) => c.part);
      // Rank 1 for all six (about 3.7% of the own adapters) fits with room: the knapsack buys more where it pays.
      expect(withParts.length).toBeGreaterThan(0);
      expect(withParts.some((c) => c.part!.rank > 1)).toBe(true);

      const published = await call("/v1/profiles/phones-parts/releases", post({ runId }));
      expect(published.status).toBe(201);
      const { manifest } = (await (
        await call("/v1/manifest?profile=phones-parts&device=d1", { headers: {} })
      ).json()) as SignedManifest;
      expect(manifest.model.loraTargets).toEqual(targets);
      expect(manifest.adapters.every((a) => a.format === "parts" && a.tasks.length === 1)).toBe(true);
      expect(manifest.adapters.reduce((n, a) => n + a.bytes, 0)).toBe(result.budget!.bytes);
      expect(Object.keys(manifest.routing).sort()).toEqual(withParts.map((c) => c.tasks[0]).sort());
      expect([...(manifest.unadapted ?? []), ...Object.keys(manifest.routing)].sort()).toEqual([...TASKS].sort());

      const { keys } = (await (await call("/v1/keys", { headers: {} })).json()) as SigningKeys;
      const device = new OtaClient({
        baseUrl: "http://d2c.test",
        deviceId: "phone-1",
        profile: "phones-parts",
        formats: ["parts"],
        publicKeys: { [keys[0].keyId]: keys[0].publicKey },
        store: new MemoryStore(),
        fetch: (r) => exports.default.fetch(r),
      });
      expect(await device.sync()).toMatchObject({ status: "updated", version: 1 });
      for (const cluster of withParts) {
        const task = cluster.tasks[0];
        const files = (await device.materialise(task, "peft"))!;
        // The same bytes the run evaluated: its adapter is content-addressed by them.
        expect(await sha256Hex(files["adapter_model.safetensors"])).toBe(cluster.sha256);
        const evaluated = (await (await call("/v1/evaluate", post({ task, adapter: cluster.sha256 }))).json()) as {
          loss: number;
        };
        expect(Math.abs(evaluated.loss - result.taskLoss[task])).toBeLessThan(1e-6);
        const onnx = (await device.materialise(task, "onnx_adapter"))!;
        expect(onnx["adapter.onnx_adapter"].byteLength).toBeGreaterThan(
          files["adapter_model.safetensors"].byteLength / 2,
        );
      }
      for (const task of manifest.unadapted ?? []) expect(await device.materialise(task)).toBeNull();

      // The profile's budget shrinks below what the run's parts take: publishing it again is refused, nothing changes.
      const smaller = {
        modelId: MODEL,
        budget: { maxBytes: result.budget!.bytes - 1 },
        formats: ["parts"],
        maxSubsets: 0,
      };
      expect((await call("/v1/profiles/phones-parts", put(smaller))).status).toBe(200);
      const refused = await call("/v1/profiles/phones-parts/releases", post({ runId }));
      expect(refused.status).toBe(422);
      expect(((await refused.json()) as { error: { code: string; message: string } }).error).toMatchObject({
        code: "over_budget",
        message: expect.stringContaining(`take ${result.budget!.bytes} bytes`),
      });
      const after = (await (
        await call("/v1/manifest?profile=phones-parts&device=d1", { headers: {} })
      ).json()) as SignedManifest;
      expect(after.manifest.version).toBe(1);

      // A run again: every loss from the cache (keyed by model, configuration and adapter), no forward pass.
      const body = post({ method: "alloc", profile: "phones-parts", parts: { configs: CONFIGS } });
      const again = (await (await call("/v1/runs", body)).json()) as { runId: string };
      const cached = await waitFor(again.runId, undefined, 120);
      const units = TASKS.length * (CONFIGS.length + 1);
      expect(cached.cost).toMatchObject({ units, cacheHits: units, forwardPasses: 0 });
      // Under the profile's smaller budget it chose other parts, from the same measurements.
      expect(cached.result!.budget).toEqual({ maxBytes: result.budget!.bytes - 1, bytes: expect.any(Number) });
      expect(cached.result!.budget!.bytes).toBeLessThan(result.budget!.bytes);
    },
  );

  it("is refused for a profile of merged adapters, and a parts profile refuses a merged run's release", async () => {
    const merged = await publishKmeans("phones-merged", TASKS.slice(0, 2), 1);
    const alloc = await call("/v1/runs", post({ method: "alloc", profile: "phones-merged" }));
    expect(alloc.status).toBe(422);
    expect(((await alloc.json()) as { error: { code: string } }).error.code).toBe("format_mismatch");
    const d2c = await call("/v1/runs", post({ profile: "phones-parts" }));
    expect(d2c.status).toBe(422);
    const release = await call("/v1/profiles/phones-parts/releases", post({ runId: merged }));
    expect(release.status).toBe(422);
    expect(((await release.json()) as { error: { message: string } }).error.message).toContain(
      "publish an alloc run to it",
    );
  });

  it("refuses a parts profile that mixes formats or counts adapters", async () => {
    for (const [body, message] of [
      [{ modelId: MODEL, budget: { maxBytes: 1000 }, formats: ["parts", "peft"] }, "parts is a release of its own"],
      [{ modelId: MODEL, budget: { maxBytes: 1000, maxAdapters: 2 }, formats: ["parts"] }, "budget is maxBytes alone"],
    ] as const) {
      const response = await call("/v1/profiles/bad-parts", put(body));
      expect(response.status).toBe(400);
      expect(JSON.stringify(await response.json())).toContain(message);
    }
  });
});
