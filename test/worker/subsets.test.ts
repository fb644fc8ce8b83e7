/**
 * Per-device task sets (issue 14) through the real Worker, Queue and Durable Objects: a device
 * stating its languages and apps gets the profile-wide release at once, one build per need is
 * scheduled however many devices ask, the subset's own release then routes exactly its tasks
 * (own adapters within the budget, warm-started D2C above it), the per-profile bound gives a
 * need asked for by more networks the place of the one asked for by fewest, and the cron rebuilds
 * a subset whose tasks changed. (What one hostile device can and cannot do: subset-abuse.test.ts.)
 */
import { createScheduledController } from "cloudflare:test";
import { env, exports } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { MemoryStore, OtaClient } from "../../clients/ts";
import { clustersOf } from "../../src/clustering/assignment";
import { restrictClusters } from "../../src/clustering/restrict";
import type { SignedManifest, SigningKeys } from "../../src/delivery/manifest";
import { subsetReleasesKey } from "../../src/delivery/readModel";
import type { SubsetView } from "../../src/delivery/subsetView";
import type { ReleaseSummary } from "../../src/delivery/release";
import type { RunSummary } from "../../src/runs/config";
import type { RunStatus } from "../../src/runs/status";
import worker from "../../src/index";
import { call, MODEL, seedTaggedTasks, statusOf, until, uploadExamples, waitFor } from "./api";
import { fixtureBytes } from "./seed";

const TASKS = ["gec-de", "gec-en", "gec-fr", "reply-de", "reply-en", "reply-fr", "sum-de", "sum-en"];
const DE_EN_GEC_REPLY = ["gec-de", "gec-en", "reply-de", "reply-en"];
const json = (body: unknown) => ({ method: "POST", body: JSON.stringify(body) });
const put = (body: unknown) => ({ method: "PUT", body: JSON.stringify(body) });
/** A device's manifest request from network `ip` (Cloudflare sets CF-Connecting-IP; demand counts networks). */
const device = (query: string, ip = "198.51.100.1") =>
  call(`/v1/manifest?${query}`, { headers: { "cf-connecting-ip": ip } });

let profileWide: ReleaseSummary;

const subsetsOf = async (profile: string) =>
  ((await (await call(`/v1/profiles/${profile}`)).json()) as { subsets: SubsetView[] }).subsets;
const subsetWith = (profile: string, tasks: readonly string[]) => async () =>
  (await subsetsOf(profile)).find((s) => s.tasks.join() === [...tasks].sort().join());
const runsOf = async (profile: string) =>
  ((await (await call("/v1/runs")).json()) as { runs: RunSummary[] }).runs.filter((r) => r.profile === profile);
const tick = () =>
  worker.scheduled(createScheduledController({ cron: "*/15 * * * *", scheduledTime: Date.now() }), env);

async function publishedSubset(profile: string, tasks: readonly string[], version = 1): Promise<SubsetView> {
  return (await until(subsetWith(profile, tasks), (s) => s?.state === "published" && s.release?.version === version))!;
}

beforeAll(async () => {
  await seedTaggedTasks(TASKS);
  const { runId } = (await (await call("/v1/runs", json({ k: 4, method: "kmeans", seed: 3 }))).json()) as {
    runId: string;
  };
  expect((await waitFor(runId)).state).toBe("done");
  for (const [id, maxSubsets] of [
    ["phones", 32],
    ["tiny", 2],
  ] as const) {
    expect(
      (await call(`/v1/profiles/${id}`, put({ modelId: MODEL, budget: { maxAdapters: 4 }, maxSubsets }))).status,
    ).toBe(200);
    // Two versions (staged, then everyone; the same run at the same rollout would be one): the profile-wide
    // stream is at 2 where a subset's own starts at 1.
    for (const rollout of [50, 100])
      profileWide = (await (
        await call(`/v1/profiles/${id}/releases`, json({ runId, rollout }))
      ).json()) as ReleaseSummary;
  }
  expect(profileWide.version).toBe(2);
});

describe("per-device task sets", () => {
  it("answers the profile-wide manifest at once, names bad needs, and ignores a need no task matches", async () => {
    const first = await device("profile=tiny&device=d1&locales=ja&apps=gec");
    expect(first.status).toBe(200);
    expect(first.headers.get("x-subset")).toBe("none");
    expect(((await first.json()) as SignedManifest).manifest).toMatchObject({ profile: "tiny", version: 2 });
    expect((await device("profile=tiny&device=d1")).headers.get("x-subset")).toBeNull();
    const bad = await device("profile=tiny&device=d1&locales=de,%3Cscript%3E");
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({
      error: { code: "bad_need", message: expect.stringContaining("locales") },
    });
    // The run method subsets use within the budget, as the API offers it: K is the task count.
    const own = await call("/v1/runs", json({ method: "own", k: 2, tasks: ["gec-de", "gec-en", "gec-fr"] }));
    expect(own.status).toBe(400);
    expect(((await own.json()) as { error: { message: string } }).error.message).toContain(
      "own keeps each task's adapter: omit k and budget, or give k = 3",
    );
    const headers = await call("/v1/manifest?profile=tiny", { headers: { "x-device-apps": "" } });
    expect(headers.status).toBe(400);
    expect(((await headers.json()) as { error: { message: string } }).error.message).toContain("apps");
  });

  it(
    "schedules one build for 20 simultaneous devices of a new need; " + "then serves them their own adapters, signed",
    async () => {
      const runsBefore = (await runsOf("phones")).length;
      const answers = await Promise.all(
        Array.from({ length: 20 }, (_, i) =>
          device(`profile=phones&device=d${i}&locales=de,en&apps=gec,reply`, `203.0.113.${i}`),
        ),
      );
      for (const answer of answers) {
        expect(answer.status).toBe(200);
        expect(answer.headers.get("x-subset")).toBe("pending");
        expect(((await answer.json()) as SignedManifest).manifest).toMatchObject({ profile: "phones", version: 2 });
      }
      await publishedSubset("phones", DE_EN_GEC_REPLY);
      // Every device's report arrived (each isolate reports; tests set SUBSET_REPORT_MS 0), and built once.
      const subset = (await until(subsetWith("phones", DE_EN_GEC_REPLY), (s) => s?.requests === 20))!;
      expect(subset).toMatchObject({ locales: ["de", "en"], apps: ["gec", "reply"], demand: 20, released: true });
      const runs = await runsOf("phones");
      expect(runs.length - runsBefore).toBe(1);
      const run = await statusOf(subset.runId!);
      // Within the budget (4 tasks, 4 adapters): each task under its own adapter, one unit each.
      expect(run).toMatchObject({ method: "own", k: 4, tasks: DE_EN_GEC_REPLY });
      expect(run.iterations.map((i) => i.units)).toEqual([4]);

      const answer = await device("profile=phones&device=d1&locales=en,de&apps=reply,gec");
      expect(answer.headers.get("x-subset")).toBe(subset.key);
      const { manifest } = (await answer.json()) as SignedManifest;
      expect(manifest).toMatchObject({ profile: "phones", subset: subset.key, version: 1 });
      expect(Object.keys(manifest.routing).sort()).toEqual(DE_EN_GEC_REPLY);
      expect(manifest.adapters.map((a) => a.tasks.length)).toEqual([1, 1, 1, 1]);
      expect(new Set(Object.values(manifest.routing)).size).toBe(4);
    },
  );

  it(
    "lets the reference client switch from the profile-wide set to its own, all or nothing, " + "and verify it",
    async () => {
      const { keys } = (await (await call("/v1/keys", { headers: {} })).json()) as SigningKeys;
      const options = {
        baseUrl: "http://d2c.test",
        profile: "phones",
        publicKeys: { [keys[0].keyId]: keys[0].publicKey },
        fetch: (r: Request) => exports.default.fetch(r),
      };
      const store = new MemoryStore();
      // The same device first without needs (profile-wide, version 2), then stating them (its set's version 1).
      expect(await new OtaClient({ ...options, deviceId: "phone-9", store }).sync()).toMatchObject({
        status: "updated",
        version: 2,
      });
      const client = new OtaClient({
        ...options,
        deviceId: "phone-9",
        store,
        needs: { locales: ["de", "en"], apps: ["gec", "reply"] },
      });
      const result = await client.sync();
      expect(result).toMatchObject({ status: "updated", version: 1 });
      expect(result.downloaded).toHaveLength(4);
      expect((await client.current())?.subset).toBeDefined();
      for (const task of DE_EN_GEC_REPLY) expect(await client.adapterFor(task)).not.toBeNull();
      expect(await client.adapterFor("sum-de")).toBeNull();
    },
  );

  it(
    "clusters a need larger than the budget with D2C, " + "warm from the profile-wide clusters restricted to it",
    async () => {
      const tasks = ["gec-de", "gec-en", "gec-fr", "reply-de", "reply-en", "reply-fr"];
      expect((await device("profile=phones&device=d2&locales=de,en,fr&apps=gec,reply")).headers.get("x-subset")).toBe(
        "pending",
      );
      expect((await subsetWith("phones", tasks)())?.state).not.toBe("published");
      // the quorum: a second network
      await device("profile=phones&device=d3&locales=de,en,fr&apps=gec,reply", "198.51.100.2");
      const subset = await publishedSubset("phones", tasks);
      const run = await statusOf(subset.runId!);
      expect(run).toMatchObject({ method: "d2c", k: 4, tasks });
      const warm = clustersOf(restrictClusters(profileWide.clusters, tasks, 4))
        .map((c) => c.length)
        .sort();
      expect(run.iterations[0].clusters.map((c) => c.size).sort()).toEqual(warm);
      const { manifest } = (await (
        await device("profile=phones&device=d2&locales=de,en,fr&apps=gec,reply")
      ).json()) as SignedManifest;
      expect(Object.keys(manifest.routing).sort()).toEqual(tasks);
      expect(manifest.adapters).toHaveLength(4);
    },
  );

  it(
    "keeps at most maxSubsets stated needs per profile: a need asked for by more networks takes the place " +
      "of the one asked for by fewest",
    async () => {
      const need = { a: "locales=fr&apps=gec", b: "locales=fr&apps=reply", c: "locales=de&apps=sum" };
      const ask = (query: string, networks: readonly string[]) =>
        Promise.all(networks.map((ip) => device(`profile=tiny&device=d3&${query}`, ip)));
      await ask(need.a, ["10.0.0.1", "10.0.0.2", "10.0.0.3"]);
      await publishedSubset("tiny", ["gec-fr"]);
      await ask(need.b, ["10.0.0.1", "10.0.0.2"]);
      const b = await publishedSubset("tiny", ["reply-fr"]);
      // Two built needs, tiny's bound: a third with as many networks as the weakest waits.
      await ask(need.c, ["10.0.0.4", "10.0.0.5"]);
      const waiting = (await until(subsetWith("tiny", ["sum-de"]), (s) => s?.demand === 2))!;
      expect(waiting).toMatchObject({
        state: "waiting",
        outcome: expect.stringContaining("none asked for by fewer than 2 networks"),
      });
      // One more network for c: it outranks b, which leaves the device path.
      await ask(need.c, ["10.0.0.6"]);
      await publishedSubset("tiny", ["sum-de"]);
      expect(await subsetWith("tiny", ["reply-fr"])()).toBeUndefined();
      expect((await subsetWith("tiny", ["gec-fr"])())?.state).toBe("published");
      // The dropped set is off the device path: its devices get the profile-wide release again.
      expect(await env.DELIVERY.get(subsetReleasesKey("tiny", b.key))).toBeNull();
      const fallback = await device(`profile=tiny&device=d3&${need.b}`);
      expect(fallback.headers.get("x-subset")).toBe("pending");
      const { manifest } = (await fallback.json()) as SignedManifest;
      expect(manifest).toMatchObject({ profile: "tiny", version: 2 });
      expect(manifest.subset).toBeUndefined();
    },
  );

  it("serves a task set the profile names, and refuses one naming a task it does not have", async () => {
    const sets = { keyboard: ["reply-en", "gec-en"] };
    const refused = await call(
      "/v1/profiles/kiosk",
      put({ modelId: MODEL, budget: { maxAdapters: 4 }, taskSets: { ...sets, other: ["gec-xx"] } }),
    );
    expect(refused.status).toBe(404);
    expect(((await refused.json()) as { error: { message: string } }).error.message).toContain(
      "taskSets.other: no task gec-xx",
    );
    expect(
      (await call("/v1/profiles/kiosk", put({ modelId: MODEL, budget: { maxAdapters: 4 }, taskSets: sets }))).status,
    ).toBe(200);
    expect((await device("profile=kiosk&device=d4&taskSet=keyboard&apps=gec")).status).toBe(400);
    // No profile-wide release: a device still gets its own set once built (404 until then).
    expect(
      (await call("/v1/manifest?profile=kiosk&device=d4", { headers: { "x-device-task-set": "Keyboard" } })).status,
    ).toBe(404);
    expect(await publishedSubset("kiosk", ["gec-en", "reply-en"])).toMatchObject({
      taskSet: "keyboard",
      locales: [],
      apps: [],
    });
    const answer = await device("profile=kiosk&device=d4&taskSet=keyboard");
    expect(Object.keys(((await answer.json()) as SignedManifest).manifest.routing)).toEqual(["gec-en", "reply-en"]);
    // no such set, and no profile-wide release
    expect((await device("profile=kiosk&device=d4&taskSet=camera")).status).toBe(404);
  });

  it("builds a parts profile's task set as an alloc run over just its tasks: its own part files", async () => {
    const sets = { keyboard: ["reply-en", "gec-en"] };
    const profile = { modelId: MODEL, budget: { maxBytes: 20_000 }, formats: ["parts"], taskSets: sets };
    expect((await call("/v1/profiles/kiosk-parts", put(profile))).status).toBe(200);
    expect((await device("profile=kiosk-parts&device=d5&taskSet=keyboard")).status).toBe(404);
    const built = await publishedSubset("kiosk-parts", ["gec-en", "reply-en"]);
    const run = (await (await call(`/v1/runs/${built.runId}`)).json()) as RunStatus;
    expect(run).toMatchObject({ method: "alloc", tasks: ["gec-en", "reply-en"] });
    const { manifest } = (await (
      await device("profile=kiosk-parts&device=d5&taskSet=keyboard")
    ).json()) as SignedManifest;
    expect(manifest.adapters.every((a) => a.format === "parts")).toBe(true);
    expect(manifest.adapters.reduce((n, a) => n + a.bytes, 0)).toBe(run.result!.budget!.bytes);
    expect(run.result!.budget!.bytes).toBeLessThanOrEqual(20_000);
    expect([...Object.keys(manifest.routing), ...(manifest.unadapted ?? [])].sort()).toEqual(["gec-en", "reply-en"]);
  });

  it("rebuilds a subset whose tasks changed in the catalogue, from the cron", async () => {
    const before = await publishedSubset("phones", DE_EN_GEC_REPLY);
    const examples = new TextDecoder()
      .decode(await fixtureBytes("examples/gec-de/fewshot.jsonl"))
      .trim()
      .split("\n");
    expect(
      (await uploadExamples("gec-de", "fewshot", new TextEncoder().encode(examples.slice(1).join("\n") + "\n"))).status,
    ).toBe(201);
    await tick();
    const after = await publishedSubset("phones", DE_EN_GEC_REPLY, 2);
    expect(after.runId).not.toBe(before.runId);
    expect(after.release!.catalogueVersion).toBeGreaterThan(before.release!.catalogueVersion);
    const { manifest } = (await (
      await device("profile=phones&device=d1&locales=de,en&apps=gec,reply")
    ).json()) as SignedManifest;
    expect(manifest).toMatchObject({ subset: before.key, version: 2 });
    const history = (await (await call(`/v1/profiles/phones/subsets/${before.key}/releases`)).json()) as {
      releases: ReleaseSummary[];
    };
    expect(history.releases.map((r) => r.version)).toEqual([2, 1]);
  });
});
