/**
 * What one hostile phone can do through the public device path (issue 20, findings 1, 2 and 7),
 * through the real Worker, Queue, Durable Objects and KV: nothing that changes what another
 * device is served. Each case sends the review's requests and then checks what is stored: the
 * KV read model byte for byte, the release history, the runs started, the subset rows.
 */
import { createScheduledController } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { readEdge } from "../../src/delivery/edgeReads";
import type { SignedManifest } from "../../src/delivery/manifest";
import { releasesKey, subsetReleasesKey, type ProfileReleases } from "../../src/delivery/readModel";
import type { ReleaseSummary } from "../../src/delivery/release";
import type { SubsetView } from "../../src/delivery/subsetView";
import type { RunSummary } from "../../src/runs/config";
import worker from "../../src/index";
import { NEW_NEEDS_PER_NETWORK } from "../../durable-objects/subsetIndex";
import type { ReportCounts } from "../../durable-objects/ProfileSubsets";
import { subsetReleases } from "../../src/storage/runs";
import { call, MODEL, seedTaggedTasks, until, waitFor } from "./api";

const APPS = ["gec", "reply", "sum", "qa", "tone"];
const LOCALES = ["de", "en", "es", "fr", "it", "ja", "ko", "zh"];
const TASKS = APPS.flatMap((a) => LOCALES.map((l) => `${a}-${l}`));
const RELEASED = ["gec-de", "gec-en", "reply-de", "reply-en"];
const KEYBOARD = ["gec-en", "reply-en"];
const HOSTILE = "192.0.2.66";

const json = (body: unknown) => ({ method: "POST", body: JSON.stringify(body) });
const put = (body: unknown) => ({ method: "PUT", body: JSON.stringify(body) });
const device = (query: string, ip = HOSTILE) => call(`/v1/manifest?${query}`, { headers: { "cf-connecting-ip": ip } });

interface ProfileView {
  subsets: SubsetView[];
  subsetsTotal: number;
  subsetsNext: number | null;
  subsetReports: ReportCounts;
}
const profileView = async (id: string) => (await (await call(`/v1/profiles/${id}`)).json()) as ProfileView;
const history = async (id: string) =>
  ((await (await call(`/v1/profiles/${id}/releases`)).json()) as { releases: ReleaseSummary[] }).releases;
const runCount = async () => ((await (await call("/v1/runs")).json()) as { runs: RunSummary[] }).runs.length;
const tick = () =>
  worker.scheduled(createScheduledController({ cron: "*/15 * * * *", scheduledTime: Date.now() }), env);
const subsetKeys = async (profile: string) =>
  (await env.DELIVERY.list({ prefix: `delivery/subsets/${profile}/` })).keys.map((k) => k.name);

/** A read-model value as devices are served it (the cron rewrites the same manifests with a new publishedAt). */
async function servedAt(key: string) {
  const value = await readEdge<ProfileReleases>(env, key);
  if (!value) return null;
  const { publishedAt: _, ...served } = value;
  return served;
}

/** Everything a device of `profile` without a need depends on, as stored. */
async function profileWideState(profile: string) {
  return { served: await servedAt(releasesKey(profile)), history: await history(profile) };
}

let runId: string;

beforeAll(async () => {
  await seedTaggedTasks(TASKS);
  runId = (
    (await (await call("/v1/runs", json({ k: 2, method: "kmeans", seed: 3, tasks: RELEASED }))).json()) as {
      runId: string;
    }
  ).runId;
  expect((await waitFor(runId)).state).toBe("done");
});

describe("a hostile device on the public manifest route", () => {
  it(
    "cannot take a profile's manifest offline by making the bound drop sets that were never published " + "(finding 1)",
    async () => {
      // The review's profile: maxSubsets 3, and here a quorum of 1 so that every need is built and the bound acts.
      expect(
        (
          await call(
            "/v1/profiles/tiny",
            put({ modelId: MODEL, budget: { maxAdapters: 2 }, maxSubsets: 3, subsetQuorum: 1 }),
          )
        ).status,
      ).toBe(200);
      expect((await call("/v1/profiles/tiny/releases", json({ runId }))).status).toBe(201);
      const before = await profileWideState("tiny");
      for (const l of ["de", "en", "es", "fr"])
        expect((await device(`profile=tiny&locales=${l}&apps=gec`)).status).toBe(200);
      await until(
        () => profileView("tiny"),
        (p) => p.subsetReports.handled === 4,
      );
      // Builds start as the limits allow (2 at once); the cron starts the rest while the bound lets it.
      const settled = await until(
        async () => {
          await tick();
          return (await profileView("tiny")).subsets;
        },
        (subsets) => subsets.length === 4 && subsets.every((s) => s.state === "published" || s.state === "waiting"),
      );
      expect(settled.filter((s) => s.state === "published")).toHaveLength(3);
      expect(settled.find((s) => s.state === "waiting")?.outcome).toContain("3 needs built (at most 3)");
      for (const device_ of ["d1", "d2"]) {
        const answer = await call(`/v1/manifest?profile=tiny&device=${device_}`, { headers: {} });
        expect(answer.status).toBe(200);
        expect(((await answer.json()) as SignedManifest).manifest).toMatchObject({ profile: "tiny", version: 1 });
      }
      expect(await profileWideState("tiny")).toEqual(before);
    },
  );

  it("a subset's release object retired with nothing released writes only its own key", async () => {
    const scope = { profile: "tiny", subset: "0123456789abcdef" };
    const before = await profileWideState("tiny");
    await subsetReleases(env, scope).retire(scope);
    expect(await env.DELIVERY.get(subsetReleasesKey("tiny", scope.subset))).toBeNull();
    expect(await profileWideState("tiny")).toEqual(before);
  });

  it(
    "floods 500 distinct needs: every device keeps its manifest, the named and the well-asked sets stay " +
      "served, nothing is built (findings 2, 7)",
    async () => {
      const sets = { keyboard: KEYBOARD };
      expect(
        (await call("/v1/profiles/fleet", put({ modelId: MODEL, budget: { maxAdapters: 4 }, taskSets: sets }))).status,
      ).toBe(200);
      expect((await call("/v1/profiles/fleet/releases", json({ runId }))).status).toBe(201);
      // Before the flood: the operator's named set, and a stated need two networks asked for, both published.
      await device("profile=fleet&taskSet=keyboard", "198.51.100.7");
      await device("profile=fleet&locales=de,en&apps=gec,reply", "198.51.100.8");
      await device("profile=fleet&locales=de,en&apps=gec,reply", "198.51.100.9");
      const published = await until(
        () => profileView("fleet"),
        (p) => p.subsets.length === 2 && p.subsets.every((s) => s.state === "published"),
      );
      const before = {
        ...(await profileWideState("fleet")),
        subsets: Object.fromEntries(
          await Promise.all(
            published.subsets.map(async (s) => [s.key, await servedAt(subsetReleasesKey("fleet", s.key))]),
          ),
        ),
        runs: await runCount(),
        handled: published.subsetReports.handled,
      };

      // 500 distinct needs from one network: pairs of languages x sets of apps, each a different subset of tasks.
      const pairs = LOCALES.flatMap((a, i) => LOCALES.slice(i + 1).map((b) => `${a},${b}`));
      const appSets = Array.from({ length: 31 }, (_, m) => APPS.filter((_, i) => (m + 1) & (1 << i)).join(","));
      const needs = pairs
        .flatMap((l) => appSets.map((a) => `locales=${l}&apps=${a}`))
        .filter((q) => q !== "locales=de,en&apps=gec,reply")
        .slice(0, 500);
      expect(new Set(needs).size).toBe(500);
      for (let i = 0; i < needs.length; i += 50) {
        const answers = await Promise.all(needs.slice(i, i + 50).map((q) => device(`profile=fleet&device=evil&${q}`)));
        for (const answer of answers) {
          expect(answer.status).toBe(200);
          expect(((await answer.json()) as SignedManifest).manifest).toMatchObject({ profile: "fleet", version: 1 });
        }
      }
      const after = await until(
        () => profileView("fleet"),
        (p) => p.subsetReports.handled >= before.handled + 500,
      );
      await tick();

      // Counted where it happens: the object dropped every new need past the network's quota without a write.
      expect(after.subsetReports.network_quota).toBe(500 - NEW_NEEDS_PER_NETWORK);
      expect(after.subsetsTotal).toBe(2 + NEW_NEEDS_PER_NETWORK);
      const hostile = after.subsets.filter((s) => !published.subsets.some((p) => p.key === s.key));
      expect(hostile.map((s) => [s.state, s.demand])).toEqual(Array(NEW_NEEDS_PER_NETWORK).fill(["waiting", 1]));
      expect(hostile[0].outcome).toBe("waiting: 1 of 2 networks asked for it");
      expect(await runCount()).toBe(before.runs);
      // What every other device is served did not change: the profile-wide model, history, and both
      // sets' keys, byte for byte.
      expect(await profileWideState("fleet")).toEqual({ served: before.served, history: before.history });
      for (const [key, value] of Object.entries(before.subsets))
        expect(await servedAt(subsetReleasesKey("fleet", key))).toEqual(value);
      expect((await subsetKeys("fleet")).sort()).toEqual(
        Object.keys(before.subsets)
          .map((k) => subsetReleasesKey("fleet", k))
          .sort(),
      );
      const keyboard = await device("profile=fleet&device=kb&taskSet=keyboard", "198.51.100.10");
      expect(Object.keys(((await keyboard.json()) as SignedManifest).manifest.routing)).toEqual(KEYBOARD);
    },
  );

  it(
    "gets no set of its own for a need over 16 tasks, and the operator pages through subsets " + "(finding 7)",
    async () => {
      const runs = await runCount();
      const large = await device(
        "profile=fleet&device=big&locales=de,en,es,fr,it,ja,ko,zh&apps=gec,reply,sum,qa",
        "198.51.100.11",
      );
      expect(large.status).toBe(200);
      expect(large.headers.get("x-subset")).toBe("none");
      const first = (await (await call("/v1/profiles/fleet/subsets?limit=4")).json()) as {
        subsets: SubsetView[];
        next: number;
        total: number;
      };
      expect(first.subsets).toHaveLength(4);
      expect(first.total).toBe(2 + NEW_NEEDS_PER_NETWORK);
      const rest = (await (await call(`/v1/profiles/fleet/subsets?limit=4&cursor=${first.next}`)).json()) as {
        subsets: SubsetView[];
        next: number | null;
      };
      expect(rest).toMatchObject({ next: null });
      expect(new Set([...first.subsets, ...rest.subsets].map((s) => s.key)).size).toBe(first.total);
      const bad = await call("/v1/profiles/fleet/subsets?limit=0");
      expect(bad.status).toBe(400);
      expect(((await bad.json()) as { error: { message: string } }).error.message).toContain("limit");
      expect(await runCount()).toBe(runs);
    },
  );
});
