/**
 * The device path at fleet scale (issue 13): manifests answered from the edge read model in
 * Workers KV with no Durable Object called, changes visible there after publish, rollout and
 * rollback, rollout buckets as before, and the per-isolate memo of the read model.
 */
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { readEdge } from "../../src/delivery/edgeReads";
import type { SignedManifest } from "../../src/delivery/manifest";
import { releasesKey, type ProfileReleases } from "../../src/delivery/readModel";
import { inRollout, rolloutBucket } from "../../src/delivery/rollout";
import type { ReleaseSummary } from "../../src/delivery/release";
import { call, MODEL, registerModel, uploadAdapter, uploadExamples, waitFor } from "./api";
import { callWith, countingEnv } from "./countingEnv";

const TASKS = ["gec-de", "gec-fr", "reply-de", "reply-fr"];
const json = (body: unknown) => ({ method: "POST", body: JSON.stringify(body) });
const put = (body: unknown) => ({ method: "PUT", body: JSON.stringify(body) });
const PROFILES = ["edge-a", "edge-b", "edge-c"];

async function finishedRun(k: number, seed: number): Promise<string> {
  const { runId } = (await (await call("/v1/runs", json({ tasks: TASKS, k, method: "kmeans", seed }))).json()) as {
    runId: string;
  };
  expect((await waitFor(runId)).state).toBe("done");
  return runId;
}

async function publish(profile: string, runId: string, rollout?: number): Promise<ReleaseSummary> {
  const response = await call(`/v1/profiles/${profile}/releases`, json({ runId, rollout }));
  expect(response.status, await response.clone().text()).toBe(201);
  return (await response.json()) as ReleaseSummary;
}

const versionFor = async (profile: string, device: string) => {
  const response = await call(`/v1/manifest?profile=${profile}&device=${device}`);
  return response.status === 200 ? ((await response.json()) as SignedManifest).manifest.version : response.status;
};

/** Polls the device path until `expected` answers (KV is eventually consistent in production; bounded here). */
async function until(read: () => Promise<unknown>, expected: unknown, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  for (let last = await read(); JSON.stringify(last) !== JSON.stringify(expected); last = await read()) {
    if (Date.now() > deadline) expect(last).toEqual(expected);
    await scheduler.wait(50);
  }
}

let runs: string[] = [];

beforeAll(async () => {
  expect((await registerModel()).status).toBe(201);
  for (const task of TASKS) {
    expect((await uploadAdapter(task)).status).toBe(201);
    expect((await uploadExamples(task, "fewshot")).status).toBe(201);
  }
  runs = [await finishedRun(2, 1), await finishedRun(2, 2)];
  const rules = [{ minRamMb: 8000 }, { maxRamMb: 4000 }, {}];
  for (const [i, id] of PROFILES.entries()) {
    expect(
      (await call(`/v1/profiles/${id}`, put({ modelId: MODEL, budget: { maxAdapters: 2 }, match: rules[i] }))).status,
    ).toBe(200);
    await publish(id, runs[0]);
  }
  await publish("edge-a", runs[1], 30); // a staged release on top of a full one
});

describe("manifests at the edge", () => {
  it(
    "answers 100 manifest requests of several profiles, rollout at 30%, " + "without calling a Durable Object",
    async () => {
      const counted = countingEnv();
      const answers = new Map<number, number>();
      for (let i = 0; i < 100; i++) {
        const query =
          i % 3 === 0
            ? `profile=edge-a&device=d${i}`
            : i % 3 === 1
              ? `ramMb=2048&device=d${i}`
              : `ramMb=16384&device=d${i}`;
        const response = await callWith(counted.env, `/v1/manifest?${query}`);
        expect(response.status).toBe(200);
        const { manifest } = (await response.json()) as SignedManifest;
        answers.set(manifest.version, (answers.get(manifest.version) ?? 0) + 1);
      }
      expect(counted.counts.durableObjectStubs).toBe(0);
      expect(counted.counts.kvReads).toBeGreaterThan(0); // the wrapped bindings are the ones the path read
      // edge-a's devices split between the staged release 2 and the full release 1.
      expect([...answers.keys()].sort()).toEqual([1, 2]);
    },
  );

  it(
    "keeps today's rollout buckets: a device in the 30% gets the staged release, " + "one outside the full one",
    async () => {
      const devices = Array.from({ length: 40 }, (_, i) => `phone-${i}`);
      for (const device of devices) {
        const staged = inRollout(await rolloutBucket("edge-a", device), 30);
        expect(await versionFor("edge-a", device)).toBe(staged ? 2 : 1);
      }
    },
  );

  it("shows publish, rollout, rollback and a retired profile on the device path", async () => {
    const outside = [...Array(200).keys()].map((i) => `dev-${i}`);
    let device = "";
    for (const d of outside)
      if (!inRollout(await rolloutBucket("edge-b", d), 50)) {
        device = d;
        break;
      }
    await publish("edge-b", runs[1], 50);
    await until(() => versionFor("edge-b", device), 1); // outside the 50%: the full release 1
    expect((await call("/v1/profiles/edge-b/rollout", json({ percent: 100 }))).status).toBe(200);
    await until(() => versionFor("edge-b", device), 2);
    expect((await call("/v1/profiles/edge-b/rollback", json({ version: 1 }))).status).toBe(201);
    await until(() => versionFor("edge-b", device), 3);
    expect((await call("/v1/profiles/edge-c?retire=true", { method: "DELETE" })).status).toBe(200);
    await until(() => versionFor("edge-c", device), 404);
    // The read model holds whole snapshots: the stored one names the newest release only.
    const model = await env.DELIVERY.get<ProfileReleases>(releasesKey("edge-b"), "json");
    expect(model).toMatchObject({ profile: "edge-b", newest: { version: 3, rollout: 100 }, fallback: null });
  });

  it("serves a blob from the cache after the first request, whole and ranged, the same bytes as R2", async () => {
    const { manifest } = (await (await call("/v1/manifest?profile=edge-a")).json()) as SignedManifest;
    const blob = manifest.adapters[0];
    const first = await call(blob.url);
    expect(first.status).toBe(200);
    const bytes = new Uint8Array(await first.arrayBuffer());
    expect(bytes.byteLength).toBe(blob.bytes);
    // The cache is filled after the answer (waitUntil): poll for the hit.
    let again = await call(blob.url);
    for (
      const deadline = Date.now() + 10_000;
      again.headers.get("x-blob-cache") !== "hit" && Date.now() < deadline;
      again = await call(blob.url)
    ) {
      await again.arrayBuffer();
      await scheduler.wait(50);
    }
    expect(again.headers.get("x-blob-cache")).toBe("hit");
    expect(new Uint8Array(await again.arrayBuffer())).toEqual(bytes);
    const ranged = await call(blob.url, { headers: { range: "bytes=100-199" } });
    expect(ranged.status).toBe(206);
    expect(ranged.headers.get("x-blob-cache")).toBe("hit");
    expect(new Uint8Array(await ranged.arrayBuffer())).toEqual(bytes.slice(100, 200));
    // Past the end: the route's own JSON 416, not the cache's.
    const past = await call(blob.url, { headers: { range: `bytes=${blob.bytes + 10}-` } });
    expect(past.status).toBe(416);
    expect(((await past.json()) as { error: { code: string } }).error.code).toBe("range_not_satisfiable");
  });

  it("memoises the read model per isolate for READ_MODEL_ISOLATE_MS", async () => {
    const { env: memoised, counts } = countingEnv({ ...env, READ_MODEL_ISOLATE_MS: "60000" });
    const first = await readEdge<ProfileReleases>(memoised, releasesKey("edge-a"));
    await env.DELIVERY.put(releasesKey("edge-a"), JSON.stringify({ ...first, newest: null }));
    // Within the memo the isolate keeps answering what it read; with no memo, KV's new value.
    expect((await readEdge<ProfileReleases>(memoised, releasesKey("edge-a")))?.newest?.version).toBe(2);
    expect(counts.kvReads).toBe(1);
    expect((await readEdge<ProfileReleases>(env, releasesKey("edge-a")))?.newest).toBeNull();
    await env.DELIVERY.put(releasesKey("edge-a"), JSON.stringify(first));
  });
});
