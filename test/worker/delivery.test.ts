/**
 * OTA delivery against the real local R2 and Durable Objects: profiles, publishing a finished
 * run, signed manifests (ETag/304), blobs (Range, If-Range, 416), rollout, rollback, an R2
 * failure mid-publish, and the cron re-clustering.
 */
import { createScheduledController, listDurableObjectIds } from "cloudflare:test";
import { env, exports } from "cloudflare:workers";
import { MemoryStore, OtaClient } from "../../clients/ts";
import { beforeAll, describe, expect, it } from "vitest";
import { canonicalBytes } from "../../src/delivery/canonical";
import type { SignedManifest, SigningKeys } from "../../src/delivery/manifest";
import { publishRun } from "../../src/workflows/publish";
import { inRollout, rolloutBucket } from "../../src/delivery/rollout";
import { blobKey } from "../../src/storage/keys";
import { sha256Hex } from "../../src/storage/sha256";
import worker from "../../src/index";
import type { LossPage } from "../../src/runs/status";
import type { ReleaseSummary } from "../../src/delivery/release";
import { call, MODEL, registerModel, uploadAdapter, uploadExamples, waitFor } from "./api";

type ErrorBody = { error: { code: string; message: string } };
const TASKS = ["gec-de", "gec-fr", "reply-de", "reply-fr", "sum-de", "sum-fr"];
const json = (body: unknown) => ({ method: "POST", body: JSON.stringify(body) });
const put = (body: unknown) => ({ method: "PUT", body: JSON.stringify(body) });

async function finishedRun(k: number, seed: number): Promise<string> {
  // One start: the default's four are test/worker/runs.test.ts's to check.
  const response = await call("/v1/runs", json({ tasks: TASKS, k, method: "d2c", seed, restarts: 1 }));
  const { runId } = (await response.json()) as { runId: string };
  expect((await waitFor(runId)).state).toBe("done");
  return runId;
}

const manifestOf = async (query: string, headers: Record<string, string> = {}) =>
  call(`/v1/manifest?${query}`, { headers });
const release = async (profile: string, runId: string, rollout?: number) => {
  const response = await call(`/v1/profiles/${profile}/releases`, json({ runId, rollout }));
  expect(response.status).toBe(201);
  return (await response.json()) as ReleaseSummary;
};

let runA: string;
let runB: string;

beforeAll(async () => {
  expect((await registerModel()).status).toBe(201);
  for (const task of TASKS) {
    expect((await uploadAdapter(task)).status).toBe(201);
    expect((await uploadExamples(task, "fewshot")).status).toBe(201);
  }
  [runA, runB] = [await finishedRun(2, 1), await finishedRun(3, 2)];
  const profile = (match: object, formats = ["peft"], maxAdapters = 3) => ({
    modelId: MODEL,
    budget: { maxAdapters },
    formats,
    match,
  });
  expect((await call("/v1/profiles/default", put(profile({}, ["peft", "onnx_adapter"])))).status).toBe(200);
  expect(
    (await call("/v1/profiles/flagship", put(profile({ minRamMb: 8000, socs: ["SM8650", "Tensor G4"] })))).status,
  ).toBe(200);
  expect((await call("/v1/profiles/small", put(profile({ maxRamMb: 4000 }, ["peft"], 1)))).status).toBe(200);
});

describe("profiles and releases", () => {
  it("refuses a profile for an unknown model or with contradictory rules, naming the field", async () => {
    const unknown = await call("/v1/profiles/x", put({ modelId: "nope", budget: { maxAdapters: 1 } }));
    expect(unknown.status).toBe(404);
    expect(((await unknown.json()) as ErrorBody).error.message).toContain("modelId");
    const ram = await call(
      "/v1/profiles/x",
      put({ modelId: MODEL, budget: { maxAdapters: 1 }, match: { minRamMb: 9000, maxRamMb: 100 } }),
    );
    expect(ram.status).toBe(400);
    expect(((await ram.json()) as ErrorBody).error.message).toContain("minRamMb");
    const format = await call(
      "/v1/profiles/x",
      put({ modelId: MODEL, budget: { maxAdapters: 1 }, formats: ["tflite"] }),
    );
    expect(format.status).toBe(400);
    const before = (await (await call("/v1/profiles")).json()) as { profiles: Array<{ id: string; version: number }> };
    expect(before.profiles.map((p) => p.id)).toEqual(["default", "flagship", "small"]);
    expect(
      (await call("/v1/profiles/small", put({ modelId: MODEL, budget: { maxAdapters: 1 }, match: { maxRamMb: 4000 } })))
        .status,
    ).toBe(200);
    const after = (await (await call("/v1/profiles")).json()) as typeof before;
    expect(after.profiles.find((p) => p.id === "small")!.version).toBe(
      before.profiles.find((p) => p.id === "small")!.version + 1,
    );
  });

  it(
    "publishes a run: every blob in R2, a manifest signed by the key at /v1/keys, " + "routing for every task",
    async () => {
      const published = await release("default", runA);
      expect(published).toMatchObject({ version: 1, rollout: 100, tasks: TASKS.length, adapters: 4 });
      const response = await manifestOf("profile=default&device=phone-1");
      expect(response.status).toBe(200);
      const signed = (await response.json()) as SignedManifest;
      const { keys } = (await (await call("/v1/keys", { headers: {} })).json()) as SigningKeys;
      const key = await crypto.subtle.importKey(
        "raw",
        Uint8Array.from(atob(keys[0].publicKey), (c) => c.charCodeAt(0)),
        { name: "Ed25519" },
        false,
        ["verify"],
      );
      const signature = Uint8Array.from(atob(signed.signature), (c) => c.charCodeAt(0));
      expect(signed.keyId).toBe(keys[0].keyId);
      expect(await crypto.subtle.verify({ name: "Ed25519" }, key, signature, canonicalBytes(signed.manifest))).toBe(
        true,
      );
      const tampered = { ...signed.manifest, rollout: 99 };
      expect(await crypto.subtle.verify({ name: "Ed25519" }, key, signature, canonicalBytes(tampered))).toBe(false);
      expect(Object.keys(signed.manifest.routing).sort()).toEqual([...TASKS].sort());
      expect(new Set(signed.manifest.adapters.map((a) => a.format))).toEqual(new Set(["peft", "onnx_adapter"]));
      for (const adapter of signed.manifest.adapters) {
        const blob = await call(adapter.url, { headers: {} });
        const bytes = new Uint8Array(await blob.arrayBuffer());
        expect(bytes.byteLength).toBe(adapter.bytes);
        expect(await sha256Hex(bytes)).toBe(adapter.sha256);
      }
      const peft = signed.manifest.adapters.filter((a) => a.format === "peft");
      for (const task of TASKS)
        expect(peft.find((a) => a.sha256 === signed.manifest.routing[task])!.tasks).toContain(task);
    },
  );

  it("answers 304 to a matching If-None-Match, and picks the profile from device traits", async () => {
    await release("flagship", runB);
    const first = await manifestOf("profile=default");
    const etag = first.headers.get("etag")!;
    expect(etag).toMatch(/^"[0-9a-f]{32}"$/);
    const again = await manifestOf("profile=default", { "if-none-match": etag });
    expect(again.status).toBe(304);
    expect(await again.text()).toBe("");
    const byTraits = async (query: string, headers: Record<string, string> = {}) =>
      ((await (await manifestOf(query, headers)).json()) as SignedManifest).manifest.profile;
    expect(await byTraits("ramMb=12000&soc=sm8650")).toBe("flagship");
    expect(await byTraits("", { "x-device-ram-mb": "12000", "x-device-soc": "Tensor G4" })).toBe("flagship");
    expect(await byTraits("ramMb=12000&soc=Exynos 2400")).toBe("default"); // one rule fails: not flagship
    expect(await byTraits("ramMb=6000")).toBe("default");
    const small = await manifestOf("ramMb=3000"); // small matches but has no release yet
    expect(small.status).toBe(404);
    expect(((await small.json()) as ErrorBody).error.code).toBe("no_release");
    expect((await manifestOf("ramMb=lots")).status).toBe(400);
  });
});

describe("adapter blobs", () => {
  let url: string;
  let whole: Uint8Array;
  let sha256: string;

  beforeAll(async () => {
    const signed = (await (await manifestOf("profile=default")).json()) as SignedManifest;
    ({ url, sha256 } = signed.manifest.adapters[0]);
    whole = new Uint8Array(await (await call(url, { headers: {} })).arrayBuffer());
  });

  it("serves the whole blob immutable with a strong ETag, and HEAD without a body", async () => {
    const response = await call(url, { headers: {} });
    expect(response.status).toBe(200);
    expect(response.headers.get("etag")).toBe(`"${sha256}"`);
    expect(response.headers.get("cache-control")).toBe("public, max-age=31536000, immutable");
    expect(response.headers.get("accept-ranges")).toBe("bytes");
    await response.arrayBuffer();
    const head = await call(url, { method: "HEAD", headers: {} });
    expect(head.headers.get("content-length")).toBe(String(whole.byteLength));
    expect((await head.arrayBuffer()).byteLength).toBe(0);
    expect((await call(url, { headers: { "if-none-match": `"${sha256}"` } })).status).toBe(304);
  });

  it("serves ranges (206), honours If-Range, and answers 416 past the end", async () => {
    const part = await call(url, { headers: { range: "bytes=100-199" } });
    expect(part.status).toBe(206);
    expect(part.headers.get("content-range")).toBe(`bytes 100-199/${whole.byteLength}`);
    expect(new Uint8Array(await part.arrayBuffer())).toEqual(whole.slice(100, 200));
    const rest = await call(url, { headers: { range: "bytes=1000-", "if-range": `"${sha256}"` } });
    expect(rest.status).toBe(206);
    expect(new Uint8Array(await rest.arrayBuffer())).toEqual(whole.slice(1000));
    const suffix = await call(url, { headers: { range: "bytes=-10" } });
    expect(new Uint8Array(await suffix.arrayBuffer())).toEqual(whole.slice(-10));
    const changed = await call(url, { headers: { range: "bytes=1000-", "if-range": '"another"' } });
    expect(changed.status).toBe(200);
    expect((await changed.arrayBuffer()).byteLength).toBe(whole.byteLength);
    const past = await call(url, { headers: { range: `bytes=${whole.byteLength}-` } });
    expect(past.status).toBe(416);
    expect(past.headers.get("content-range")).toBe(`bytes */${whole.byteLength}`);
    expect((await call(`/v1/adapters/${"0".repeat(64)}`, { headers: {} })).status).toBe(404);
    expect((await call("/v1/adapters/not-a-digest", { headers: {} })).status).toBe(400);
  });
});

describe("publishing safely, rollout and rollback", () => {
  it("keeps the old manifest current when R2 fails mid-publish, and nothing names the missing blob", async () => {
    const before = await (await manifestOf("profile=default")).text();
    let puts = 0;
    // The real local bucket, failing on its second write: an outage in the middle of a publish.
    const failing = new Proxy(env.BUCKET, {
      get(target, prop) {
        if (prop === "put")
          return async (...args: Parameters<R2Bucket["put"]>) => {
            if (++puts === 2) throw new Error("R2 unavailable");
            return target.put(...args);
          };
        const value = Reflect.get(target, prop);
        return typeof value === "function" ? value.bind(target) : value;
      },
    });
    // A merge the bucket has not seen yet: ties_svd of another K, so the formats must be written.
    const response = await call(
      "/v1/runs",
      json({ tasks: TASKS, k: 2, method: "kmeans", seed: 9, merge: { method: "ties_svd" } }),
    );
    const { runId } = (await response.json()) as { runId: string };
    expect((await waitFor(runId)).state).toBe("done");
    await expect(publishRun(env, failing, "default", runId)).rejects.toThrow("R2 unavailable");
    expect(puts).toBe(2);
    expect(await (await manifestOf("profile=default")).text()).toBe(before);
    const history = (await (await call("/v1/profiles/default/releases")).json()) as { releases: ReleaseSummary[] };
    expect(history.releases.map((r) => r.version)).toEqual([1]);
  });

  it("buckets devices stably: raising the rollout only adds devices", async () => {
    const buckets = await Promise.all(Array.from({ length: 400 }, (_, i) => rolloutBucket("default", `device-${i}`)));
    expect(buckets.every((b) => b >= 0 && b < 100)).toBe(true);
    const share = (p: number) => buckets.filter((b) => inRollout(b, p)).length / buckets.length;
    expect(share(30)).toBeGreaterThan(0.22);
    expect(share(30)).toBeLessThan(0.38);
    expect(await rolloutBucket("default", "device-7")).toBe(buckets[7]);
    expect(await rolloutBucket("default", undefined)).toBe(100); // no id: never in a partial rollout

    // a staged rollout starts low
    expect(await release("default", runB, 30)).toMatchObject({ version: 2, rollout: 30 });
    const versionFor = async (device: string) =>
      ((await (await manifestOf(`profile=default&device=${device}`)).json()) as SignedManifest).manifest.version;
    const devices = Array.from({ length: 40 }, (_, i) => `device-${i}`);
    const at30 = await Promise.all(devices.map(versionFor));
    expect(new Set(at30)).toEqual(new Set([1, 2]));
    devices.forEach((_d, i) => expect(at30[i]).toBe(buckets[i] < 30 ? 2 : 1));
    expect((await call("/v1/profiles/default/rollout", json({ percent: 60 }))).status).toBe(200);
    const at60 = await Promise.all(devices.map(versionFor));
    devices.forEach((_, i) => at30[i] === 2 && expect(at60[i]).toBe(2));
    expect(at60.filter((v) => v === 2).length).toBeGreaterThan(at30.filter((v) => v === 2).length);
  });

  it("rolls back with a higher version that serves the old adapters", async () => {
    const response = await call("/v1/profiles/default/rollback", json({ version: 1 }));
    expect(response.status).toBe(201);
    const rolled = (await response.json()) as ReleaseSummary;
    expect(rolled).toMatchObject({ version: 3, kind: "rollback", sourceVersion: 1, rollout: 100 });
    const now = ((await (await manifestOf("profile=default&device=device-1")).json()) as SignedManifest).manifest;
    const history = (await (await call("/v1/profiles/default/releases")).json()) as { releases: ReleaseSummary[] };
    expect(history.releases.map((r) => r.version)).toEqual([3, 2, 1]);
    expect(now.version).toBe(3);
    expect(history.releases[2].runId).toBe(runA);
    expect((await call("/v1/profiles/default/rollback", json({ version: 9 }))).status).toBe(404);
  });
});

describe("the reference OTA client against the Worker", () => {
  it("installs the current release, revalidates with 304, refuses a corrupted blob and keeps its set", async () => {
    const { keys } = (await (await call("/v1/keys", { headers: {} })).json()) as SigningKeys;
    const store = new MemoryStore();
    const client = new OtaClient({
      baseUrl: "http://d2c.test",
      deviceId: "client-e2e",
      profile: "default",
      formats: ["onnx_adapter", "peft"],
      store,
      publicKeys: { [keys[0].keyId]: keys[0].publicKey },
      fetch: (request) => exports.default.fetch(request),
    });
    const first = await client.sync();
    expect(first).toMatchObject({ status: "updated", version: 3 });
    const manifest = (await client.current())!;
    for (const task of TASKS) {
      const adapter = (await client.adapterFor(task))!;
      expect(adapter.format).toBe("onnx_adapter");
      expect(await sha256Hex(adapter.bytes)).toBe(adapter.sha256);
      expect(manifest.adapters.find((a) => a.sha256 === adapter.sha256)!.tasks).toContain(task);
    }
    expect((await client.sync()).status).toBe("unchanged");

    // Version 4 serves run B's adapters again; one of its blobs is corrupted in R2.
    expect((await call("/v1/profiles/default/rollback", json({ version: 2 }))).status).toBe(201);
    const next = ((await (await manifestOf("profile=default&device=client-e2e")).json()) as SignedManifest).manifest;
    const victim = next.adapters.find((a) => a.format === "onnx_adapter")!;
    const good = new Uint8Array(await (await env.BUCKET.get(blobKey(victim.sha256)))!.arrayBuffer());
    const bad = good.slice();
    bad[bad.length - 1] ^= 0xff;
    await env.BUCKET.put(blobKey(victim.sha256), bad);
    const refused = await client.sync();
    expect(refused.status).toBe("kept-previous");
    expect(refused.error).toContain(victim.sha256);
    expect((await client.current())!.version).toBe(3);
    expect(await client.adapterFor(TASKS[0])).not.toBeNull();

    await env.BUCKET.put(blobKey(victim.sha256), good);
    expect(await client.sync()).toMatchObject({ status: "updated", version: 4 });
    // A new client on the same store starts from what was installed, offline.
    const offline = new OtaClient({
      baseUrl: "http://offline.invalid",
      deviceId: "client-e2e",
      profile: "default",
      formats: ["onnx_adapter", "peft"],
      store,
      publicKeys: { [keys[0].keyId]: keys[0].publicKey },
      fetch: async () => {
        throw new Error("offline");
      },
    });
    expect((await offline.current())!.version).toBe(4);
    for (const task of TASKS) {
      const expected = next.adapters.find((a) => a.format === "onnx_adapter" && a.tasks.includes(task))!;
      expect((await offline.adapterFor(task))!.sha256).toBe(expected.sha256);
    }
  });
});

describe("cron re-clustering", () => {
  const tick = async () => {
    await worker.scheduled(createScheduledController({ cron: "*/15 * * * *", scheduledTime: Date.now() }), env);
  };
  const runs = async () => (await listDurableObjectIds(env.CLUSTER_RUN)).length;
  const auto = async () =>
    (await (await call("/v1/profiles/auto")).json()) as {
      auto: { runId: string; outcome: string | null };
      release: ReleaseSummary | null;
    };

  it("starts one run per catalogue change, never two at once, and publishes what finished", async () => {
    expect(
      (
        await call(
          "/v1/profiles/auto",
          put({ modelId: MODEL, budget: { maxAdapters: 2 }, autoRecluster: true, match: { os: ["auto-test"] } }),
        )
      ).status,
    ).toBe(200);
    const before = await runs();
    await tick();
    expect(await runs()).toBe(before + 1);
    const first = (await auto()).auto.runId;
    await tick(); // the run is still going (or just done): no second run either way
    expect(await runs()).toBe(before + 1);
    await waitFor(first);
    await tick();
    const published = await auto();
    expect(published.auto.outcome).toContain("published release 1");
    expect(published.release!.runId).toBe(first);
    await tick(); // nothing changed since the release
    expect(await runs()).toBe(before + 1);

    // A new task: the next tick warm-starts from the release and places it by loss.
    expect((await uploadAdapter("qa-de")).status).toBe(201);
    expect((await uploadExamples("qa-de", "fewshot")).status).toBe(201);
    await tick();
    expect(await runs()).toBe(before + 2);
    const second = (await auto()).auto.runId;
    const warm = await waitFor(second);
    const placed = ((await (await call(`/v1/runs/${second}/losses?iteration=0`)).json()) as LossPage).rows.find(
      (r) => r.task === "qa-de",
    );
    expect(placed!.cluster).toBeGreaterThanOrEqual(0);
    // merged without it
    expect(warm.iterations[0].clusters.reduce((n, c) => n + c.size, 0)).toBe(warm.tasks.length - 1);
    await tick();
    const next = await auto();
    expect(next.release!.version).toBe(2);
    const manifest = ((await (await manifestOf("os=auto-test")).json()) as SignedManifest).manifest;
    expect(manifest.routing["qa-de"]).toBeDefined();
  });
});
