/**
 * The check `POST /v1/keys/switch` makes first (issue 20, finding 4): the secret that holds the
 * next key must be that key's private half. A secret is matched to a key by its JWK `x`, which
 * says nothing of its `d`; a secret whose `d` is another key's would sign manifests no device can
 * verify, and no later rotation could repair that (its certificate of a following key would not
 * verify either). So the secret signs a test statement, and the next key's certified public key
 * must verify it.
 */
import { canonicalBytes } from "../delivery/canonical";
import type { KeyStatementBody } from "../delivery/keys";
import { manifestSigner, type ManifestSigner } from "../delivery/signing";
import { catalogue } from "../storage/catalogue";
import { ApiError } from "./errors";

/** The Worker's signing secrets, in the order signerFor (src/delivery/signing.ts) tries them. */
const SECRETS = ["MANIFEST_SIGNING_KEY", "MANIFEST_SIGNING_KEY_NEXT"] as const;

/**
 * Throws 409 `secret_mismatch`, before anything changes, when a secret that claims the next key
 * (same `x`) signs with another private key. No next key, or no secret for it: nothing to check
 * here (the switch handler answers those).
 */
export async function requireNextKeySecret(env: Env): Promise<void> {
  const next = (await catalogue(env).signingKeys()).find((k) => k.status === "next");
  if (!next) return;
  for (const name of SECRETS) {
    const secret = env[name];
    if (!secret) continue;
    const signer = await manifestSigner(secret);
    if (signer.keyId !== next.keyId) continue;
    if (!(await signsFor(signer, next.publicKey))) {
      throw new ApiError(
        409,
        "secret_mismatch",
        `${name} claims key ${next.keyId} but its private key signs for another key: put the private key ` +
          `written by keys add-next (wrangler secret put ${name} < FILE), then switch again`,
      );
    }
  }
}

/**
 * Whether `signer` signs what `publicKey` (base64 raw Ed25519) verifies. The statement is signed
 * here and thrown away: it is never stored or sent.
 */
export async function signsFor(signer: ManifestSigner, publicKey: string): Promise<boolean> {
  const body: KeyStatementBody = {
    kind: "certify",
    keyId: signer.keyId,
    publicKey,
    issuedAt: new Date().toISOString(),
  };
  const { signature } = await signer.signStatement(body);
  const key = await crypto.subtle.importKey("raw", base64Bytes(publicKey), { name: "Ed25519" }, false, ["verify"]);
  return crypto.subtle.verify({ name: "Ed25519" }, key, base64Bytes(signature), canonicalBytes(body));
}

const base64Bytes = (text: string) => Uint8Array.from(atob(text), (ch) => ch.charCodeAt(0));
