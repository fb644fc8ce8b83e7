/**
 * Issue 20 (hostile review), finding 9: the reference client kept key retirements in memory only,
 * so after a restart it trusted a retired pinned key again. The attacker here holds the retired
 * key, signs a manifest with it and blocks `GET /v1/keys`; the real Worker serves everything else.
 */
import { env, exports } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { MemoryStore, OtaClient } from "../../clients/ts";
import type { FetchLike } from "../../clients/ts/download";
import { storeKeys } from "../../clients/ts/store";
import type { SignedManifest, SigningKeys } from "../../src/delivery/manifest";
import { manifestSigner } from "../../src/delivery/signing";
import { call, publishKmeans, registerModel, uploadAdapter, uploadExamples } from "./api";

const TASKS = ["gec-de", "gec-fr", "reply-de", "reply-fr"];
const post = (body?: unknown) => ({ method: "POST", ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
const keyList = async () => ((await (await call("/v1/keys", { headers: {} })).json()) as SigningKeys).keys;
const served = async () => (await (await call("/v1/manifest?profile=restart&device=d1")).json()) as SignedManifest;
const worker: FetchLike = (request) => exports.default.fetch(request);

let first: { keyId: string; publicKey: string };
let forged: SignedManifest;

/** The attacker's network: the manifest it signed with the retired key, no key list, the real Worker for the rest. */
const hostile =
  (keysReachable: boolean): FetchLike =>
  async (request) => {
    const { pathname } = new URL(request.url);
    if (pathname === "/v1/manifest") return Response.json(forged);
    if (pathname === "/v1/keys" && !keysReachable) return new Response("unavailable", { status: 503 });
    return worker(request);
  };

const client = (store: MemoryStore, fetch: FetchLike) =>
  new OtaClient({
    baseUrl: "http://d2c.test",
    deviceId: "d1",
    profile: "restart",
    publicKeys: { [first.keyId]: first.publicKey },
    store,
    fetch,
  });

async function copyOf(
  store: MemoryStore,
  state?: (value: Record<string, unknown>) => Record<string, unknown>,
): Promise<MemoryStore> {
  const copy = new MemoryStore();
  for (const key of await store.list("")) await copy.put(key, (await store.get(key))!);
  if (state) {
    const value = JSON.parse(new TextDecoder().decode((await store.get(storeKeys.state))!)) as Record<string, unknown>;
    await copy.put(storeKeys.state, new TextEncoder().encode(JSON.stringify(state(value))));
  }
  return copy;
}

beforeAll(async () => {
  expect((await registerModel()).status).toBe(201);
  for (const task of TASKS) {
    expect((await uploadAdapter(task)).status).toBe(201);
    expect((await uploadExamples(task, "fewshot")).status).toBe(201);
  }
  await publishKmeans("restart", TASKS, 2);
  const old = await manifestSigner(env.MANIFEST_SIGNING_KEY);
  first = { keyId: old.keyId, publicKey: old.publicKey };
  // Signed before the rotation: the attacker keeps the old key's power to sign any version.
  forged = await old.sign({ ...(await served()).manifest, version: 99 });
});

describe("the reference client keeps key retirements across a restart", () => {
  it(
    "a restarted client still refuses a manifest signed by its retired pinned key when GET /v1/keys is " +
      "blocked, and keeps the certified key",
    async () => {
      const store = new MemoryStore();
      const before = client(store, worker);
      expect(await before.sync()).toMatchObject({ status: "updated", version: 1 });
      const { publicKey } = await manifestSigner(env.MANIFEST_SIGNING_KEY_NEXT);
      expect((await call("/v1/keys/next", post({ publicKey }))).status).toBe(201);
      expect((await call("/v1/keys/switch", post())).status).toBe(200);
      expect((await call(`/v1/keys/${first.keyId}/retire`, post())).status).toBe(200);
      // the re-signed manifest: learns the new key and the retirement
      expect(await before.sync()).toMatchObject({ version: 1 });
      expect(await before.sync()).toMatchObject({ status: "unchanged", version: 1 });

      // What the review saw: a state without the retirements (as the client wrote it until now) trusts the old key
      // again.
      const unpersisted = await copyOf(store, ({ keys: _keys, ...state }) => state);
      expect(await client(unpersisted, hostile(false)).sync()).toMatchObject({ status: "updated", version: 99 });

      const keysBefore = await keyList();
      const stateBefore = await store.get(storeKeys.state);
      const restarted = client(store, hostile(false));
      expect((await restarted.current())?.version).toBe(1); // the new key, certified by the pinned one, still trusted
      const result = await restarted.sync();
      expect(result).toMatchObject({ status: "kept-previous", version: 1 });
      expect(result.error).toContain("retired");
      expect((await restarted.current())?.version).toBe(1);
      expect(await restarted.adapterFor(TASKS[0])).not.toBeNull();
      // Nothing stored changed: the device's state, the server's key list and what it serves.
      expect(await store.get(storeKeys.state)).toEqual(stateBefore);
      expect(await keyList()).toEqual(keysBefore);
      expect((await served()).manifest.version).toBe(1);
    },
  );

  it("persists a retirement learned with a manifest it refused, before any restart", async () => {
    const store = new MemoryStore();
    const refused = await client(store, hostile(true)).sync(); // the key list is reachable: the retirement is learned
    expect(refused).toMatchObject({ status: "kept-previous", version: null });
    expect(refused.error).toContain("retired");
    const state = JSON.parse(new TextDecoder().decode((await store.get(storeKeys.state))!)) as {
      release: unknown;
      keys: { retired: string[] };
    };
    expect(state).toMatchObject({ release: null, keys: { retired: [first.keyId] } });
    const restarted = await client(store, hostile(false)).sync();
    expect(restarted).toMatchObject({ status: "kept-previous", version: null });
    expect(restarted.error).toContain("retired");
  });
});
