/**
 * Issue 20 (hostile review), the key routes: a next secret whose private half is another key's is
 * refused before the switch (finding 4), and a next public key in non-canonical base64 is refused
 * (finding 9). Each refusal leaves the KV read model and the Catalogue's key registry as they were.
 */
import { env } from "cloudflare:workers";
import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { beforeAll, describe, expect, it } from "vitest";
import { signsFor } from "../../src/api/nextKeySecret";
import { app } from "../../src/api/app";
import type { SignedManifest, SigningKeys } from "../../src/delivery/manifest";
import { manifestSigner } from "../../src/delivery/signing";
import { catalogue } from "../../src/storage/catalogue";
import { ADMIN, call, publishKmeans, registerModel, uploadAdapter, uploadExamples } from "./api";

type ErrorBody = { error: { code: string; message: string } };
type PrivateJwk = { kty: string; crv: string; d: string; x: string };
const TASKS = ["gec-de", "gec-fr", "reply-de", "reply-fr"];
const post = (body?: unknown) => ({ method: "POST", ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
const keyList = async () => ((await (await call("/v1/keys", { headers: {} })).json()) as SigningKeys).keys;

async function freshJwk(): Promise<PrivateJwk> {
  const pair = (await crypto.subtle.generateKey({ name: "Ed25519" }, true, ["sign", "verify"])) as CryptoKeyPair;
  return (await crypto.subtle.exportKey("jwk", pair.privateKey)) as PrivateJwk;
}

/** Everything stored that a refusal must leave alone: every KV entry, and the registry the Catalogue keeps. */
async function storedState(): Promise<{ kv: Record<string, string | null>; registry: unknown }> {
  const kv: Record<string, string | null> = {};
  let cursor: string | undefined;
  for (;;) {
    const page = await env.DELIVERY.list(cursor ? { cursor } : {});
    for (const { name } of page.keys) kv[name] = await env.DELIVERY.get(name);
    if (page.list_complete) break;
    cursor = page.cursor;
  }
  return { kv, registry: await catalogue(env).signingKeys() };
}

let served: SignedManifest;

beforeAll(async () => {
  expect((await registerModel()).status).toBe(201);
  for (const task of TASKS) {
    expect((await uploadAdapter(task)).status).toBe(201);
    expect((await uploadExamples(task, "fewshot")).status).toBe(201);
  }
  await publishKmeans("guard", TASKS, 2);
  served = (await (await call("/v1/manifest?profile=guard&device=d1")).json()) as SignedManifest;
});

describe("POST /v1/keys/next takes only canonical base64 (finding 9)", () => {
  it(
    "refuses an unpadded key, one with whitespace and one with stray low bits, with 400 naming publicKey, " +
      "changing nothing",
    async () => {
      const { publicKey } = await manifestSigner(JSON.stringify(await freshJwk()));
      // 32 bytes are 43 base64 digits and "=": the 43rd digit carries 2 unused bits, which must be 0.
      const last = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".indexOf(publicKey[42]);
      const strayBits =
        publicKey.slice(0, 42) + "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"[last | 1] + "=";
      const before = await storedState();
      for (const variant of [
        publicKey.replace(/=+$/, ""),
        `${publicKey.slice(0, 20)}\n${publicKey.slice(20)}`,
        ` ${publicKey} `,
        strayBits,
      ]) {
        const response = await call("/v1/keys/next", post({ publicKey: variant }));
        expect(response.status, JSON.stringify(variant)).toBe(400);
        const { error } = (await response.json()) as ErrorBody;
        expect(error).toMatchObject({ code: "bad_public_key" });
        expect(error.message).toMatch(/^publicKey: not canonical base64/);
        expect(error.message).toContain(publicKey);
      }
      expect(await storedState()).toEqual(before);
      expect((await keyList()).map((k) => k.status)).toEqual(["current"]);
    },
  );
});

describe("switch checks the next secret against the certified key (finding 4)", () => {
  it(
    "signsFor: a secret signs for its own public key, " + "and not for the key whose x it carries with another key's d",
    async () => {
      const [own, other] = [await freshJwk(), await freshJwk()];
      expect(
        await signsFor(await manifestSigner(JSON.stringify(own)), own.x.replace(/-/g, "+").replace(/_/g, "/") + "="),
      ).toBe(true);
      const forged = await manifestSigner(JSON.stringify({ ...other, x: own.x }));
      // the x is what names the key
      expect(forged.publicKey).toBe((await manifestSigner(JSON.stringify(own))).publicKey);
      expect(await signsFor(forged, forged.publicKey)).toBe(false);
    },
  );

  it(
    "answers 409 secret_mismatch to a switch whose MANIFEST_SIGNING_KEY_NEXT carries the next key's x but " +
      "another key's d, changing nothing",
    async () => {
      const next = await freshJwk();
      const nextSigner = await manifestSigner(JSON.stringify(next));
      expect((await call("/v1/keys/next", post({ publicKey: nextSigner.publicKey }))).status).toBe(201);
      const before = await storedState();
      expect((await keyList()).map((k) => k.status)).toEqual(["current", "next"]);

      // The review's secret: `x` of the registered next key, `d` of the test env's MANIFEST_SIGNING_KEY_NEXT.
      const mismatched = JSON.stringify({ ...(JSON.parse(env.MANIFEST_SIGNING_KEY_NEXT) as PrivateJwk), x: next.x });
      // The route under a Worker whose secret is that one: the same app, Catalogue, Releases and KV.
      const ctx = createExecutionContext();
      const switched = await app.fetch(
        new Request("http://d2c.test/v1/keys/switch", { method: "POST", headers: ADMIN }),
        { ...env, MANIFEST_SIGNING_KEY_NEXT: mismatched },
        ctx,
      );
      await waitOnExecutionContext(ctx);
      expect(switched.status).toBe(409);
      const { error } = (await switched.json()) as ErrorBody;
      expect(error.code).toBe("secret_mismatch");
      expect(error.message).toContain("MANIFEST_SIGNING_KEY_NEXT");
      expect(error.message).toContain(nextSigner.keyId);

      expect(await storedState()).toEqual(before);
      expect((await keyList()).map((k) => [k.keyId, k.status])).toEqual([
        [served.keyId, "current"],
        [nextSigner.keyId, "next"],
      ]);
      expect(await (await call("/v1/manifest?profile=guard&device=d1")).json()).toEqual(served);
    },
  );
});
