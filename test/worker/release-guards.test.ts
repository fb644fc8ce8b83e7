/**
 * What a publish, a rollout change or a profile change must refuse, sent as issue 10's review
 * sent it, against the real local R2 and Durable Objects. Each refusal is checked twice: the
 * answer names the reason, and nothing changed (catalogue version, R2 listing, release history,
 * the manifest devices get).
 */
import { createScheduledController } from "cloudflare:test";
import { env, exports } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { MemoryStore, OtaClient } from "../../clients/ts";
import type { SignedManifest, SigningKeys } from "../../src/delivery/manifest";
import { MATCH_RULE_CHARS, MATCH_RULE_ENTRIES, ProfileSchema } from "../../src/delivery/profiles";
import { inRollout, rolloutRefusal } from "../../src/delivery/rollout";
import worker from "../../src/index";
import type { ReleaseSummary } from "../../src/delivery/release";
import { call, MODEL, registerModel, uploadAdapter, uploadExamples, waitFor } from "./api";
import { fixtureBytes } from "./seed";

type ErrorBody = { error: { code: string; message: string } };
const TASKS = ["gec-de", "gec-fr", "reply-de", "reply-fr", "sum-de", "sum-fr"];
/** Tasks only the pinned-digest run uses, so changing them leaves the other runs publishable. */
const PINNED = ["qa-de", "qa-es", "qa-fr"];
const post = (body: unknown) => ({ method: "POST", body: JSON.stringify(body) });
const put = (body: unknown) => ({ method: "PUT", body: JSON.stringify(body) });
const profileBody = (os: string, budget: object, formats = ["peft"]) => ({
  modelId: MODEL,
  budget,
  formats,
  match: { os: [os] },
});

async function finishedRun(tasks: string[], k: number, seed: number): Promise<string> {
  const response = await call("/v1/runs", post({ tasks, k, method: "kmeans", seed }));
  const { runId } = (await response.json()) as { runId: string };
  expect((await waitFor(runId)).state).toBe("done");
  return runId;
}

const publish = (profile: string, runId: string, rollout?: number) =>
  call(`/v1/profiles/${profile}/releases`, post({ runId, rollout }));
const published = async (profile: string, runId: string, rollout?: number) => {
  const response = await publish(profile, runId, rollout);
  expect(response.status).toBe(201);
  return (await response.json()) as ReleaseSummary;
};
const manifestOf = (query: string, headers: Record<string, string> = {}) => call(`/v1/manifest?${query}`, { headers });

async function r2Keys(): Promise<string[]> {
  const keys: string[] = [];
  let cursor: string | undefined;
  do {
    const page = await env.BUCKET.list(cursor ? { cursor } : {});
    keys.push(...page.objects.map((o) => o.key));
    cursor = page.truncated ? page.cursor : undefined;
  } while (cursor);
  return keys.sort();
}

/** Everything a refused request must leave as it was. */
async function snapshot(profile: string) {
  const { catalogueVersion } = (await (await call("/v1/tasks")).json()) as { catalogueVersion: number };
  const profiles = (await (await call("/v1/profiles")).json()) as { profiles: Array<{ id: string; version: number }> };
  const history = await call(`/v1/profiles/${profile}/releases`);
  const manifest = await manifestOf(`profile=${profile}`);
  return {
    catalogueVersion,
    r2: await r2Keys(),
    profiles: profiles.profiles.map((p) => `${p.id}@${p.version}`),
    history: [history.status, await history.text()],
    manifest: [manifest.status, manifest.headers.get("etag"), await manifest.text()],
  };
}

async function refusal(response: Response, status: number, code: string): Promise<string> {
  const body = (await response.json()) as ErrorBody;
  expect({ status: response.status, code: body.error.code }).toEqual({ status, code });
  return body.error.message;
}

let runK2: string;
let runK3: string;
let runPinned: string;

beforeAll(async () => {
  expect((await registerModel()).status).toBe(201);
  for (const task of [...TASKS, ...PINNED]) {
    expect((await uploadAdapter(task)).status).toBe(201);
    expect((await uploadExamples(task, "fewshot")).status).toBe(201);
  }
  [runK2, runK3, runPinned] = [
    await finishedRun(TASKS, 2, 1),
    await finishedRun(TASKS, 3, 2),
    await finishedRun(PINNED, 2, 3),
  ];
  expect(
    (await call("/v1/profiles/roomy", put(profileBody("roomy", { maxAdapters: 5 }, ["peft", "onnx_adapter"])))).status,
  ).toBe(200);
  expect((await call("/v1/profiles/two", put(profileBody("two", { maxAdapters: 2 })))).status).toBe(200);
});

describe("publish keeps to the profile's budget (defect 2)", () => {
  it("refuses more merged adapters than maxAdapters with 422 naming both, storing nothing", async () => {
    expect(await published("two", runK2)).toMatchObject({ version: 1, adapters: 2 }); // exactly the budget fits
    const before = await snapshot("two");
    const message = await refusal(await publish("two", runK3), 422, "over_budget");
    expect(message).toContain("3 merged adapters");
    expect(message).toContain("maxAdapters 2");
    expect(await snapshot("two")).toEqual(before);
  });

  it("refuses a release over maxBytes in any offered format (at its dtype) before writing a blob", async () => {
    // Sizes per merged adapter, learnt from a release that fits: every cluster has the same rank.
    const roomy = await published("roomy", runK2);
    expect(roomy.adapters).toBe(4);
    const signed = (await (await manifestOf("profile=roomy")).json()) as SignedManifest;
    const size = (format: string) => signed.manifest.adapters.find((a) => a.format === format)!.bytes;
    const [peft, onnx] = [size("peft"), size("onnx_adapter")];
    expect(onnx).toBeGreaterThan(1.5 * peft); // fp32 .onnx_adapter against fp16 PEFT
    const maxBytes = Math.round((3 * peft + 3 * onnx) / 2); // K=3 fits as PEFT, not as .onnx_adapter
    expect(
      (
        await call(
          "/v1/profiles/bytes",
          put({ ...profileBody("bytes", { maxBytes }, ["peft", "onnx_adapter"]), dtype: "fp16" }),
        )
      ).status,
    ).toBe(200);

    const before = await snapshot("bytes");
    const message = await refusal(await publish("bytes", runK3), 422, "over_budget");
    expect(message).toContain(`maxBytes ${maxBytes}`);
    expect(message).toContain(`onnx_adapter (fp32) ${3 * onnx} bytes`);
    expect(message).toContain(`peft (fp16) ${3 * peft} bytes`);
    expect(message).toContain("over in onnx_adapter)");
    expect(await snapshot("bytes")).toEqual(before); // no blob of the refused release reached R2

    // Offered as PEFT only, the same release fits.
    expect((await call("/v1/profiles/bytes", put(profileBody("bytes", { maxBytes })))).status).toBe(200);
    expect(await published("bytes", runK3)).toMatchObject({ version: 1, adapters: 3 });
  });

  it("sizes K for a profile by the same file bytes, so the run it starts publishes", async () => {
    const signed = (await (await manifestOf("profile=roomy")).json()) as SignedManifest;
    const onnx = signed.manifest.adapters.find((a) => a.format === "onnx_adapter")!.bytes;
    // Three fp32 .onnx_adapter files fit and a fourth does not; counted as fp16 parameters, six would.
    const maxBytes = 3 * onnx + 100;
    expect(
      (
        await call(
          "/v1/profiles/sized",
          put({ ...profileBody("sized", { maxBytes }, ["peft", "onnx_adapter"]), dtype: "fp16" }),
        )
      ).status,
    ).toBe(200);
    const started = await call("/v1/runs", post({ profile: "sized", tasks: TASKS, method: "kmeans", seed: 4 }));
    const { runId, k } = (await started.json()) as { runId: string; k: number };
    expect(k).toBe(3);
    expect((await waitFor(runId)).state).toBe("done");
    expect(await published("sized", runId)).toMatchObject({ version: 1, adapters: 6 });
  });
});

describe("publish refuses a run whose tasks changed since it started (defect 3)", () => {
  it("answers 409 naming the deleted and replaced tasks, and stores nothing", async () => {
    expect((await call("/v1/profiles/pinned", put(profileBody("pinned", { maxAdapters: 5 })))).status).toBe(200);
    expect((await call("/v1/tasks/qa-fr", { method: "DELETE" })).status).toBe(200);
    expect((await uploadExamples("qa-de", "fewshot", await fixtureBytes("examples/qa-it/fewshot.jsonl"))).status).toBe(
      201,
    );
    const other = {
      "adapter_config.json": await fixtureBytes("adapters/qa-it/adapter_config.json"),
      "adapter_model.safetensors": await fixtureBytes("adapters/qa-it/adapter_model.safetensors"),
    };
    expect((await uploadAdapter("qa-es", other)).status).toBe(201);

    const before = await snapshot("pinned");
    const message = await refusal(await publish("pinned", runPinned), 409, "catalogue_changed");
    expect(message).toContain("qa-fr (deleted)");
    expect(message).toContain("qa-de (few-shot examples replaced)");
    expect(message).toContain("qa-es (adapter replaced)");
    expect(await snapshot("pinned")).toEqual(before);
    expect((await manifestOf("profile=pinned")).status).toBe(404);
  });
});

describe("a rollout only grows (defect 4)", () => {
  it("keeps a percentage in [0, 100] growing; 100 reaches devices without an id", () => {
    expect(inRollout(100, 100)).toBe(true);
    expect(inRollout(99.99, 100)).toBe(true);
    expect(inRollout(30, 30)).toBe(false);
    expect(rolloutRefusal("p", 2, 100, 100)).toBeNull();
    expect(rolloutRefusal("p", 2, 30, 60)).toBeNull();
    expect(rolloutRefusal("p", 2, 100, 0)).toContain("POST /v1/profiles/p/rollback");
  });

  it("answers a decrease with 409 pointing to rollback; the reference client keeps its version", async () => {
    expect((await call("/v1/profiles/staged", put(profileBody("staged", { maxAdapters: 5 })))).status).toBe(200);
    await published("staged", runK2);
    expect(await published("staged", runK3)).toMatchObject({ version: 2, rollout: 100 });
    const { keys } = (await (await call("/v1/keys", { headers: {} })).json()) as SigningKeys;
    const client = new OtaClient({
      baseUrl: "http://d2c.test",
      deviceId: "staged-1",
      profile: "staged",
      formats: ["peft"],
      store: new MemoryStore(),
      publicKeys: { [keys[0].keyId]: keys[0].publicKey },
      fetch: (request) => exports.default.fetch(request),
    });
    expect(await client.sync()).toMatchObject({ status: "updated", version: 2 });

    const before = await snapshot("staged");
    const message = await refusal(
      await call("/v1/profiles/staged/rollout", post({ percent: 0 })),
      409,
      "rollout_decrease",
    );
    expect(message).toContain("release 2 of profile staged is at 100%");
    expect(message).toContain("POST /v1/profiles/staged/rollback");
    expect(await snapshot("staged")).toEqual(before);
    expect(await client.sync()).toMatchObject({ status: "unchanged" });
    expect((await client.current())!.version).toBe(2);

    // A staged release starts low and only grows; the client gets it once its bucket is in.
    expect(await published("staged", runK2, 0)).toMatchObject({ version: 3, rollout: 0 });
    expect(await client.sync()).toMatchObject({ status: "unchanged" });
    expect((await call("/v1/profiles/staged/rollout", post({ percent: 50 }))).status).toBe(200);
    await refusal(await call("/v1/profiles/staged/rollout", post({ percent: 20 })), 409, "rollout_decrease");
    const raised = await call("/v1/profiles/staged/rollout", post({ percent: 100 }));
    expect(((await raised.json()) as ReleaseSummary).rollout).toBe(100);
    expect(await client.sync()).toMatchObject({ status: "updated", version: 3 });
  });
});

describe("profiles: bounded rules and delete (defect 6)", () => {
  it(
    `refuses rule lists over ${MATCH_RULE_ENTRIES} entries ` + `or ${MATCH_RULE_CHARS} characters, naming the field`,
    async () => {
      const huge = {
        ...profileBody("huge", { maxAdapters: 1 }),
        match: { socs: Array.from({ length: 150_000 }, (_, i) => `SM${i}`) },
      };
      const parsed = ProfileSchema.safeParse(huge);
      expect(parsed.success).toBe(false);
      expect(parsed.error!.issues[0].path).toEqual(["match", "socs"]);

      const before = await snapshot("roomy");
      const response = await call("/v1/profiles/huge", put(huge));
      // The JSON body limit (src/api/validate.ts) may stop it first, with 413: either way, refused.
      expect([400, 413]).toContain(response.status);
      if (response.status === 400) expect(((await response.json()) as ErrorBody).error.message).toContain("match.socs");
      const many = {
        ...profileBody("many", { maxAdapters: 1 }),
        match: { socs: Array.from({ length: MATCH_RULE_ENTRIES + 1 }, (_, i) => `SM${i}`) },
      };
      expect(await refusal(await call("/v1/profiles/many", put(many)), 400, "invalid_request")).toContain("match.socs");
      const long = {
        ...profileBody("long", { maxAdapters: 1 }),
        match: { models: ["x".repeat(MATCH_RULE_CHARS + 1)] },
      };
      expect(await refusal(await call("/v1/profiles/long", put(long)), 400, "invalid_request")).toContain(
        "match.models.0",
      );
      expect(await snapshot("roomy")).toEqual(before);
      const fits = {
        ...profileBody("fits", { maxAdapters: 1 }),
        match: { socs: Array.from({ length: MATCH_RULE_ENTRIES }, (_, i) => `SM${i}`) },
      };
      expect((await call("/v1/profiles/fits", put(fits))).status).toBe(200);
    },
  );

  it(
    "refuses to delete a profile with releases (409) unless retired; retired, devices get 404 and " +
      "versions keep counting",
    async () => {
      expect((await call("/v1/profiles/gone", put(profileBody("gone", { maxAdapters: 5 })))).status).toBe(200);
      await published("gone", runK2);
      expect(await published("gone", runK3)).toMatchObject({ version: 2 });
      const before = await snapshot("gone");
      expect(
        await refusal(await call("/v1/profiles/gone", { method: "DELETE" }), 409, "profile_has_releases"),
      ).toContain("retire=true");
      expect(await snapshot("gone")).toEqual(before);
      expect((await manifestOf("os=gone")).status).toBe(200);

      const deleted = await call("/v1/profiles/gone?retire=true", { method: "DELETE" });
      expect(await deleted.json()).toEqual({ deleted: "gone", retiredThrough: 2 });
      expect(await refusal(await manifestOf("profile=gone"), 404, "no_profile")).toContain("gone");
      expect((await manifestOf("os=gone")).status).toBe(404); // no other profile matches, so none at all
      expect(
        ((await (await call("/v1/profiles")).json()) as { profiles: Array<{ id: string }> }).profiles.map((p) => p.id),
      ).not.toContain("gone");
      expect((await call("/v1/profiles/gone", { method: "DELETE" })).status).toBe(404);
      expect((await snapshot("roomy")).r2).toEqual(before.r2); // blobs are immutable and may be shared: they stay

      // Created again under the same id: nothing retired is served, the next release is version 3.
      expect((await call("/v1/profiles/gone", put(profileBody("gone", { maxAdapters: 5 })))).status).toBe(200);
      expect(await refusal(await manifestOf("profile=gone"), 404, "no_release")).toContain("gone");
      expect(
        await refusal(await call("/v1/profiles/gone/rollback", post({ version: 1 })), 404, "unknown_release"),
      ).toContain("1");
      expect(await published("gone", runK2)).toMatchObject({ version: 3 });
      expect(((await (await call("/v1/profiles/gone")).json()) as { release: ReleaseSummary }).release.version).toBe(3);

      // A profile without releases is simply deleted.
      expect((await call("/v1/profiles/fresh", put(profileBody("fresh", { maxAdapters: 1 })))).status).toBe(200);
      expect(await (await call("/v1/profiles/fresh", { method: "DELETE" })).json()).toEqual({
        deleted: "fresh",
        retiredThrough: 0,
      });
      expect(
        await refusal(await call("/v1/profiles/roomy?retire=maybe", { method: "DELETE" }), 400, "invalid_request"),
      ).toContain("retire");
    },
  );
});

describe("HTTP details of the device routes (defect 7)", () => {
  it("answers 416 as uncached JSON, with Content-Length on HEAD too", async () => {
    const signed = (await (await manifestOf("profile=roomy")).json()) as SignedManifest;
    const { url, bytes } = signed.manifest.adapters[0];
    const range = { range: `bytes=${bytes}-` };
    const past = await call(url, { headers: range });
    expect(past.status).toBe(416);
    expect(past.headers.get("content-type")).toMatch(/^application\/json/);
    expect(past.headers.get("cache-control")).not.toContain("immutable");
    expect(past.headers.get("content-range")).toBe(`bytes */${bytes}`);
    const text = await past.text();
    expect((JSON.parse(text) as ErrorBody).error.code).toBe("range_not_satisfiable");
    expect(past.headers.get("content-length")).toBe(String(new TextEncoder().encode(text).byteLength));
    const head = await call(url, { method: "HEAD", headers: range });
    expect(head.status).toBe(416);
    expect(head.headers.get("content-length")).toBe(String(new TextEncoder().encode(text).byteLength));
    expect(head.headers.get("cache-control")).not.toContain("immutable");
    expect((await head.arrayBuffer()).byteLength).toBe(0);
  });

  it('compares If-None-Match weakly: W/"<etag>" is a 304 for manifests and blobs', async () => {
    const first = await manifestOf("profile=roomy");
    const etag = first.headers.get("etag")!;
    await first.arrayBuffer();
    expect((await manifestOf("profile=roomy", { "if-none-match": `W/${etag}` })).status).toBe(304);
    expect((await manifestOf("profile=roomy", { "if-none-match": `"other", W/${etag}` })).status).toBe(304);
    expect((await manifestOf("profile=roomy", { "if-none-match": 'W/"other"' })).status).toBe(200);
    const { url, sha256 } = ((await (await manifestOf("profile=roomy")).json()) as SignedManifest).manifest.adapters[0];
    expect((await call(url, { headers: { "if-none-match": `W/"${sha256}"` } })).status).toBe(304);
  });
});

describe("the cron publishes through the same checks (defect 3)", () => {
  const tick = () =>
    worker.scheduled(createScheduledController({ cron: "*/15 * * * *", scheduledTime: Date.now() }), env);
  const auto = async () =>
    ((await (await call("/v1/profiles/auto")).json()) as { auto: { runId: string; outcome: string | null } }).auto;

  it("records a run whose tasks changed as not published, and starts afresh on the next tick", async () => {
    expect(
      (await call("/v1/profiles/auto", put({ ...profileBody("auto", { maxAdapters: 2 }), autoRecluster: true })))
        .status,
    ).toBe(200);
    await tick();
    const first = (await auto()).runId;
    expect((await waitFor(first)).state).toBe("done");
    expect(
      (await uploadExamples("gec-de", "fewshot", await fixtureBytes("examples/gec-fr/fewshot.jsonl"))).status,
    ).toBe(201);

    const before = await snapshot("auto");
    await tick();
    expect((await auto()).outcome).toContain("not published: ");
    expect((await auto()).outcome).toContain("gec-de (few-shot examples replaced)");
    expect(await snapshot("auto")).toEqual(before);
    await tick(); // not the same run again: a new one over today's catalogue
    const second = await auto();
    expect(second).toMatchObject({ outcome: null });
    expect(second.runId).not.toBe(first);
    await waitFor(second.runId); // leave no run going behind the test
  });
});
