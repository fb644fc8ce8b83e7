/**
 * Signing keys (docs/decisions/0009-key-rotation.md). `GET /v1/keys` is a device route: the key
 * list from the edge copy, no token, no Durable Object. The rotation steps are admin routes:
 *   POST /v1/keys/next { publicKey }  the current key certifies a new key; devices learn it
 *   POST /v1/keys/switch              the next key signs from now on (its secret must be set);
 *                                     every profile's served manifests are re-signed with it
 *   POST /v1/keys/:keyId/retire       the current key withdraws an old key; devices refuse it
 */
import { Hono } from "hono";
import { z } from "zod";
import { currentSigner } from "../delivery/currentSigner";
import { readEdge } from "../delivery/edgeReads";
import { KEYS_KEY, keyIdOf, type KeyStatementBody, type SigningKey } from "../delivery/keys";
import { manifestSigner, signerFor } from "../delivery/signing";
import { catalogue } from "../storage/catalogue";
import { resignEverythingServed, servedBy } from "../delivery/served";
import { requireAdmin } from "./auth";
import { ApiError } from "./errors";
import { jsonBody } from "./validate";
import { requireNextKeySecret } from "./nextKeySecret";

export const keys = new Hono<{ Bindings: Env }>();

export const NextKeyRequest = z.object({ publicKey: z.string().min(1).max(100) }).strict();

keys.get("/", async (c) => {
  const listed = await readEdge<{ keys: SigningKey[] }>(c.env, KEYS_KEY);
  if (listed) return c.json(listed);
  // Before any signature the registry is empty: the Worker's own key is the current one.
  if (!c.env.MANIFEST_SIGNING_KEY)
    throw new ApiError(503, "signing_disabled", "MANIFEST_SIGNING_KEY is not configured");
  const signer = await manifestSigner(c.env.MANIFEST_SIGNING_KEY);
  return c.json({
    keys: [
      { keyId: signer.keyId, algorithm: "Ed25519", publicKey: signer.publicKey, status: "current", addedAt: null },
    ],
  });
});

keys.post("/next", requireAdmin, async (c) => {
  const { publicKey } = await jsonBody(c.req.raw, NextKeyRequest);
  const raw = rawPublicKey(publicKey);
  const keyId = await keyIdOf(raw);
  const signer = await currentSigner(c.env);
  const certificate = await signer.signStatement(statement("certify", keyId, publicKey));
  const change = await catalogue(c.env).addNextKey({ keyId, publicKey, certificate });
  if ("refused" in change) throw new ApiError(409, "key_rotation_order", change.refused);
  return c.json(change, 201);
});

keys.post("/switch", requireAdmin, async (c) => {
  await requireNextKeySecret(c.env);
  const next = (await catalogue(c.env).signingKeys()).find((k) => k.status === "next");
  if (!next) throw new ApiError(409, "key_rotation_order", "no next key: add one first (POST /v1/keys/next)");
  // The Worker must hold the next key's private half before it may sign with it.
  if (!(await signerFor(c.env, next.keyId))) {
    throw new ApiError(
      409,
      "missing_secret",
      `the private key of ${next.keyId} is not set: wrangler secret put MANIFEST_SIGNING_KEY_NEXT, then switch again`,
    );
  }
  const change = await catalogue(c.env).switchKeys();
  if ("refused" in change) throw new ApiError(409, "key_rotation_order", change.refused);
  // Every served manifest, profile-wide and per-device set, is under the new key before the answer
  // (a failure here: the cron re-signs what it missed).
  return c.json({ ...change, resigned: await resignEverythingServed(c.env) });
});

keys.post("/:keyId/retire", requireAdmin, async (c) => {
  const keyId = c.req.param("keyId");
  const key = (await catalogue(c.env).signingKeys()).find((k) => k.keyId === keyId);
  if (!key) throw new ApiError(404, "unknown_key", `no signing key ${keyId}`);
  // Devices refuse a retired key's signatures: retiring one that still signs a served manifest
  // would strand its devices.
  const inUse = await servedBy(c.env, keyId);
  if (inUse.length) {
    throw new ApiError(
      409,
      "key_in_use",
      `key ${keyId} still signs what ${inUse.length} release histories serve ` +
        `(${inUse.slice(0, 5).join(", ")}${inUse.length > 5 ? ", ..." : ""}): switch keys first, or wait ` +
        `for the cron to re-sign them`,
    );
  }
  const signer = await currentSigner(c.env);
  const change = await catalogue(c.env).retireKey(
    keyId,
    await signer.signStatement(statement("retire", keyId, key.publicKey)),
  );
  if ("refused" in change) throw new ApiError(409, "key_rotation_order", change.refused);
  return c.json(change);
});

const statement = (kind: KeyStatementBody["kind"], keyId: string, publicKey: string): KeyStatementBody => ({
  kind,
  keyId,
  publicKey,
  issuedAt: new Date().toISOString(),
});

function rawPublicKey(publicKey: string): Uint8Array {
  let raw: Uint8Array;
  try {
    raw = Uint8Array.from(atob(publicKey), (ch) => ch.charCodeAt(0));
  } catch {
    throw new ApiError(400, "bad_public_key", "publicKey: give the raw Ed25519 public key in standard base64");
  }
  if (raw.byteLength !== 32)
    throw new ApiError(400, "bad_public_key", `publicKey: ${raw.byteLength} bytes, an Ed25519 public key has 32`);
  // Refused, not canonicalised: certificates and retirements sign this text, and clients compare it as is.
  const canonical = btoa(String.fromCharCode(...raw));
  if (canonical !== publicKey)
    throw new ApiError(
      400,
      "bad_public_key",
      `publicKey: not canonical base64 (padded, no whitespace); this key is ${canonical}`,
    );
  return raw;
}
