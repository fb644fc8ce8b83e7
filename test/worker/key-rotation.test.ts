/**
 * Signing-key rotation (docs/decisions/0009-key-rotation.md) through the real routes, Catalogue,
 * Releases objects and KV: add a next key, switch to it, retire the old one; and the reference
 * client's side: a certified new key is accepted, an uncertified or retired one refused.
 */
import { env, exports } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { MemoryStore, OtaClient } from "../../clients/ts";
import { ManifestVerifier } from "../../clients/ts/signature";
import type { SigningKey } from "../../src/delivery/keys";
import type { SignedManifest, SigningKeys } from "../../src/delivery/manifest";
import { manifestSigner } from "../../src/delivery/signing";
import { call, MODEL, registerModel, uploadAdapter, uploadExamples, waitFor } from "./api";

type ErrorBody = { error: { code: string; message: string } };
const TASKS = ["gec-de", "gec-fr", "reply-de", "reply-fr"];
const post = (body?: unknown) => ({ method: "POST", ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
const keyList = async () => ((await (await call("/v1/keys", { headers: {} })).json()) as SigningKeys).keys;
const served = async () => (await (await call("/v1/manifest?profile=rot&device=d1")).json()) as SignedManifest;

let runId: string;
let first: { keyId: string; publicKey: string };
let next: { keyId: string; publicKey: string };
let oldManifest: SignedManifest;

beforeAll(async () => {
  expect((await registerModel()).status).toBe(201);
  for (const task of TASKS) {
    expect((await uploadAdapter(task)).status).toBe(201);
    expect((await uploadExamples(task, "fewshot")).status).toBe(201);
  }
  runId = (
    (await (await call("/v1/runs", post({ tasks: TASKS, k: 2, method: "kmeans", seed: 0 }))).json()) as {
      runId: string;
    }
  ).runId;
  expect((await waitFor(runId)).state).toBe("done");
  expect(
    (
      await call("/v1/profiles/rot", {
        method: "PUT",
        body: JSON.stringify({ modelId: MODEL, budget: { maxAdapters: 2 } }),
      })
    ).status,
  ).toBe(200);
  expect((await call("/v1/profiles/rot/releases", post({ runId }))).status).toBe(201);
  const [a, b] = await Promise.all([
    manifestSigner(env.MANIFEST_SIGNING_KEY),
    manifestSigner(env.MANIFEST_SIGNING_KEY_NEXT),
  ]);
  [first, next] = [
    { keyId: a.keyId, publicKey: a.publicKey },
    { keyId: b.keyId, publicKey: b.publicKey },
  ];
  oldManifest = await served();
});

const client = (pins: Record<string, string>) =>
  new OtaClient({
    baseUrl: "http://d2c.test",
    deviceId: "d1",
    profile: "rot",
    publicKeys: pins,
    store: new MemoryStore(),
    fetch: (r) => exports.default.fetch(r),
  });

describe("key rotation", () => {
  it(
    "adds a next key certified by the current one; switching before that, " + "or retiring the current key, is refused",
    async () => {
      expect(oldManifest.keyId).toBe(first.keyId);
      const early = await call("/v1/keys/switch", post());
      expect(early.status).toBe(409);
      expect(((await early.json()) as ErrorBody).error.message).toContain("no next key");
      const bad = await call("/v1/keys/next", post({ publicKey: "AAAA" }));
      expect(bad.status).toBe(400);
      expect(((await bad.json()) as ErrorBody).error.message).toContain("publicKey");
      expect((await call("/v1/keys/next", post({ publicKey: next.publicKey }))).status).toBe(201);
      const again = await call("/v1/keys/next", post({ publicKey: next.publicKey }));
      expect(again.status).toBe(409);
      const keys = await keyList();
      expect(keys.map((k) => [k.keyId, k.status])).toEqual([
        [first.keyId, "current"],
        [next.keyId, "next"],
      ]);
      expect(keys[1].certificate).toMatchObject({
        signedBy: first.keyId,
        statement: { kind: "certify", keyId: next.keyId, publicKey: next.publicKey },
      });
      expect((await call(`/v1/keys/${first.keyId}/retire`, post())).status).toBe(409);
      // Nothing switched: devices still get manifests signed by the first key.
      expect((await served()).keyId).toBe(first.keyId);
    },
  );

  it(
    "switches: served manifests are re-signed with the new key, and a client that pinned only the " +
      "old key accepts them",
    async () => {
      const pinnedOld = client({ [first.keyId]: first.publicKey });
      expect(await pinnedOld.sync()).toMatchObject({ status: "updated", version: 1 });
      const switched = await call("/v1/keys/switch", post());
      expect(switched.status).toBe(200);
      expect(((await switched.json()) as { resigned: number }).resigned).toBe(1);
      expect((await keyList()).map((k) => [k.keyId, k.status])).toEqual([
        [next.keyId, "current"],
        [first.keyId, "previous"],
      ]);
      const resigned = await served();
      expect(resigned).toMatchObject({ keyId: next.keyId, manifest: { version: 1 } });
      // A new release, signed by the new key, reaches the device through the certificate.
      expect((await call("/v1/profiles/rot/rollback", post({ version: 1 }))).status).toBe(201);
      expect(await pinnedOld.sync()).toMatchObject({ status: "updated", version: 2 });
    },
  );

  it("refuses a key whose certificate no trusted key signed", async () => {
    const verifier = new ManifestVerifier({ [first.keyId]: first.publicKey });
    const rogue = await manifestSigner(
      JSON.stringify(
        await crypto.subtle.exportKey(
          "jwk",
          ((await crypto.subtle.generateKey({ name: "Ed25519" }, true, ["sign", "verify"])) as CryptoKeyPair)
            .privateKey,
        ),
      ),
    );
    const selfCertified: SigningKey = {
      keyId: rogue.keyId,
      algorithm: "Ed25519",
      publicKey: rogue.publicKey,
      status: "current",
      addedAt: "",
      certificate: await rogue.signStatement({
        kind: "certify",
        keyId: rogue.keyId,
        publicKey: rogue.publicKey,
        issuedAt: "",
      }),
    };
    // A certificate naming the rogue key but carrying the real next key's public key is no better.
    const swapped: SigningKey = { ...selfCertified, publicKey: next.publicKey };
    await verifier.learn([selfCertified, swapped]);
    const forged = await rogue.sign((await served()).manifest);
    await expect(verifier.verify(forged)).rejects.toThrow("neither pinned nor certified");
  });

  it(
    "retires the old key: devices that learn it refuse what it signed, " + "even a manifest they were once given",
    async () => {
      const verifier = new ManifestVerifier({ [first.keyId]: first.publicKey });
      await verifier.verify(oldManifest); // trusted before the retirement is known
      const retired = await call(`/v1/keys/${first.keyId}/retire`, post());
      expect(retired.status).toBe(200);
      const keys = await keyList();
      expect(keys.find((k) => k.keyId === first.keyId)).toMatchObject({
        status: "retired",
        retirement: { signedBy: next.keyId, statement: { kind: "retire" } },
      });
      await verifier.learn(keys);
      await expect(verifier.verify(oldManifest)).rejects.toThrow("retired");
      await verifier.verify(await served()); // the new key, learned through its certificate, still verifies
      // A retirement signed by the retired key itself proves nothing.
      const other = new ManifestVerifier({ [first.keyId]: first.publicKey });
      await other.learn(
        keys.map((k) =>
          k.keyId === first.keyId ? { ...k, retirement: { ...k.retirement!, signedBy: first.keyId } } : k,
        ),
      );
      await other.verify(oldManifest);
    },
  );
});
