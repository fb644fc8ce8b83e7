/**
 * The signed manifest names the base model its adapters are for (issue 20, finding 8), and the
 * reference client refuses a release for a base it does not hold: two models registered from the
 * same graph under two ids, a profile and a release for each, and devices holding one of them.
 */
import { exports } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { MemoryStore, OtaClient } from "../../clients/ts";
import type { ManifestModel, SignedManifest, SigningKeys } from "../../src/delivery/manifest";
import { ADMIN, call, form, MODEL, publishKmeans, registerModel, uploadAdapter, uploadExamples } from "./api";
import { fixtureBytes, fixtureJson } from "./seed";

const OTHER = "d2c-char-lm-b";

let held: ManifestModel;
let publicKeys: Record<string, string>;

/** The reference model's files under another id: same weights, another base as far as adapters go. */
async function registerOther(): Promise<Response> {
  const contract = await fixtureJson<Record<string, unknown>>(`models/${MODEL}/model.json`);
  const files: Record<string, Uint8Array> = {
    "model.json": new TextEncoder().encode(JSON.stringify({ ...contract, modelId: OTHER })),
  };
  for (const f of ["model.onnx", "tokenizer.json", "tokenizer_config.json"])
    files[f] = await fixtureBytes(`models/${MODEL}/${f}`);
  return call(`/v1/models/${OTHER}`, { method: "PUT", headers: ADMIN, body: form(files) });
}

const device = (profile: string, model: ManifestModel) =>
  new OtaClient({
    baseUrl: "http://d2c.test",
    deviceId: "phone-1",
    profile,
    publicKeys,
    model,
    store: new MemoryStore(),
    fetch: (r) => exports.default.fetch(r),
  });

beforeAll(async () => {
  expect((await registerModel()).status).toBe(201);
  expect((await registerOther()).status).toBe(201);
  for (const task of ["gec-de", "gec-en"]) {
    expect((await uploadAdapter(task)).status).toBe(201);
    expect((await uploadExamples(task, "fewshot")).status).toBe(201);
    const config = await fixtureJson<Record<string, unknown>>(`adapters/${task}/adapter_config.json`);
    const other = {
      "adapter_config.json": new TextEncoder().encode(JSON.stringify({ ...config, base_model_name_or_path: OTHER })),
      "adapter_model.safetensors": await fixtureBytes(`adapters/${task}/adapter_model.safetensors`),
    };
    expect((await uploadAdapter(`${task}-b`, other)).status).toBe(201);
    expect(
      (await uploadExamples(`${task}-b`, "fewshot", await fixtureBytes(`examples/${task}/fewshot.jsonl`))).status,
    ).toBe(201);
  }
  await publishKmeans("phones-a", ["gec-de", "gec-en"], 1);
  await publishKmeans("phones-b", ["gec-de-b", "gec-en-b"], 1, { modelId: OTHER });
  const { sha256 } = (await fixtureJson<{ onnx: { sha256: string } }>(`models/${MODEL}/model.json`)).onnx;
  held = { id: MODEL, sha256 };
  const { keys } = (await (await call("/v1/keys", { headers: {} })).json()) as SigningKeys;
  publicKeys = { [keys[0].keyId]: keys[0].publicKey };
});

describe("the base model of a release", () => {
  it("is signed into the manifest: the model's id and the sha256 of its weights", async () => {
    for (const [profile, id] of [
      ["phones-a", MODEL],
      ["phones-b", OTHER],
    ]) {
      const { manifest } = (await (
        await call(`/v1/manifest?profile=${profile}&device=d1`, { headers: {} })
      ).json()) as SignedManifest;
      expect(manifest.model).toEqual({ id, sha256: held.sha256 });
    }
  });

  it(
    "is checked by the client: a device holding one model installs its release and refuses the other's, " +
      "installing nothing",
    async () => {
      const own = device("phones-a", held);
      expect(await own.sync()).toMatchObject({ status: "updated", version: 1 });
      expect(await own.adapterFor("gec-de")).not.toBeNull();

      const other = device("phones-b", held);
      const refused = await other.sync();
      expect(refused).toMatchObject({ status: "kept-previous", version: null, downloaded: [] });
      expect(refused.error).toContain(`manifest is for base model "${OTHER}"`);
      expect(await other.current()).toBeNull();

      // The same id with other weights (a base model updated in place on the device) is another base too.
      const stale = device("phones-a", { id: MODEL, sha256: "0".repeat(64) });
      expect((await stale.sync()).error).toContain(`this device holds "${MODEL}"`);
      expect(await stale.current()).toBeNull();
    },
  );
});
