/**
 * Idempotent writes (issue 23): an upload identical to what a task holds, and a publication of the
 * run that already is the newest release, change nothing: 200 `unchanged`, no catalogue or release
 * version, no blob written (R2 counted at the binding, test/worker/countingEnv.ts). A changed one
 * still does all of it.
 */
import { beforeAll, describe, expect, it } from "vitest";
import type { PublishedRelease, ReleaseSummary } from "../../src/delivery/release";
import { call, form, MODEL, publishKmeans, registerModel, uploadAdapter, uploadExamples } from "./api";
import { callWith, countingEnv } from "./countingEnv";
import { fixtureBytes } from "./seed";

const TASKS = ["gec-de", "gec-fr", "reply-de", "reply-fr"];
const versionNow = async () =>
  ((await (await call("/v1/tasks")).json()) as { catalogueVersion: number }).catalogueVersion;

async function adapterFiles(task: string): Promise<Record<string, Uint8Array>> {
  return {
    "adapter_config.json": await fixtureBytes(`adapters/${task}/adapter_config.json`),
    "adapter_model.safetensors": await fixtureBytes(`adapters/${task}/adapter_model.safetensors`),
  };
}

beforeAll(async () => {
  expect((await registerModel()).status).toBe(201);
  for (const task of TASKS) {
    const [application, language] = task.split("-");
    expect((await uploadAdapter(task, undefined, `?application=${application}&language=${language}`)).status).toBe(201);
    expect((await uploadExamples(task, "fewshot")).status).toBe(201);
  }
});

describe("uploads", () => {
  it("answers an identical adapter upload 200 unchanged, writing nothing; a change bumps the version", async () => {
    const before = await versionNow();
    const { env, counts } = countingEnv();
    const again = await callWith(env, "/v1/tasks/gec-de/adapter?application=gec&language=de", {
      method: "PUT",
      body: form(await adapterFiles("gec-de")),
    });
    expect(again.status).toBe(200);
    const body = (await again.json()) as Record<string, unknown>;
    expect(body).toEqual({
      taskId: "gec-de",
      adapterSha256: expect.stringMatching(/^[0-9a-f]{64}$/),
      catalogueVersion: before,
      unchanged: true,
    });
    expect(counts.r2Puts).toBe(0);
    // Without tags the stored ones stay, so that is the same upload too.
    expect((await uploadAdapter("gec-de")).status).toBe(200);
    expect(await versionNow()).toBe(before);

    // Another tag, another config (same weights), other weights: each is a change.
    const retagged = await uploadAdapter("gec-de", undefined, "?application=gec&language=fr");
    expect(retagged.status).toBe(201);
    expect(await retagged.json()).toMatchObject({ catalogueVersion: before + 1, unchanged: false });
    const files = await adapterFiles("gec-de");
    const config = JSON.parse(new TextDecoder().decode(files["adapter_config.json"])) as Record<string, unknown>;
    const reconfigured = new TextEncoder().encode(JSON.stringify({ ...config, lora_dropout: 0.05 }));
    const second = countingEnv();
    const changed = await callWith(second.env, "/v1/tasks/gec-de/adapter", {
      method: "PUT",
      body: form({ ...files, "adapter_config.json": reconfigured }),
    });
    expect(changed.status).toBe(201);
    expect(second.counts.r2Puts).toBe(2);
    const weights = await uploadAdapter("gec-de", await adapterFiles("gec-fr"));
    expect(weights.status).toBe(201);
    expect(await versionNow()).toBe(before + 3);
    // ...and that one sent again is unchanged in turn.
    expect((await uploadAdapter("gec-de", await adapterFiles("gec-fr"))).status).toBe(200);
    expect(await versionNow()).toBe(before + 3);
  });

  it("answers identical examples 200 unchanged, writing nothing; other examples bump the version", async () => {
    const before = await versionNow();
    const { env, counts } = countingEnv();
    const again = await callWith(env, "/v1/tasks/reply-de/examples?split=fewshot", {
      method: "PUT",
      body: await fixtureBytes("examples/reply-de/fewshot.jsonl"),
    });
    expect(again.status).toBe(200);
    expect(await again.json()).toEqual({
      taskId: "reply-de",
      split: "fewshot",
      examples: 10,
      catalogueVersion: before,
      unchanged: true,
    });
    expect(counts.r2Puts).toBe(0);
    expect(await versionNow()).toBe(before);

    const other = await uploadExamples("reply-de", "fewshot", await fixtureBytes("examples/reply-fr/fewshot.jsonl"));
    expect(other.status).toBe(201);
    expect(await other.json()).toMatchObject({ catalogueVersion: before + 1, unchanged: false });
    // A split the task has no examples for yet is a change, however the other split stands.
    expect((await uploadExamples("reply-de", "test")).status).toBe(201);
    expect(await versionNow()).toBe(before + 2);
  });
});

describe("publishing", () => {
  it("answers a run published again as the newest release, 200 unchanged, never a new version", async () => {
    const runId = await publishKmeans("phones", ["gec-fr", "reply-fr"], 2);
    const publish = (env: Env | null, body: Record<string, unknown>) => {
      const init = { method: "POST", body: JSON.stringify({ runId, ...body }) };
      return env ? callWith(env, "/v1/profiles/phones/releases", init) : call("/v1/profiles/phones/releases", init);
    };
    const { env, counts } = countingEnv();
    const again = await publish(env, {});
    expect(again.status).toBe(200);
    const release = (await again.json()) as PublishedRelease;
    expect(release).toMatchObject({ version: 1, runId, rollout: 100, unchanged: true });
    // Answered before any blob is read and encoded.
    expect([counts.r2Gets, counts.r2Puts]).toEqual([0, 0]);

    // Other options are another release; asked again, that one is unchanged in turn.
    const staged = await publish(null, { rollout: 10 });
    expect(staged.status).toBe(201);
    expect(await staged.json()).toMatchObject({ version: 2, rollout: 10, unchanged: false });
    expect((await publish(null, { rollout: 10 })).status).toBe(200);
    // A new profile version (another budget) is a new release of the same run.
    const profile = { modelId: MODEL, budget: { maxAdapters: 3 } };
    expect((await call("/v1/profiles/phones", { method: "PUT", body: JSON.stringify(profile) })).status).toBe(200);
    expect(await (await publish(null, { rollout: 10 })).json()).toMatchObject({ version: 3, unchanged: false });

    const history = (await (await call("/v1/profiles/phones/releases")).json()) as { releases: ReleaseSummary[] };
    expect(history.releases.map((r) => r.version)).toEqual([3, 2, 1]);
  });
});
