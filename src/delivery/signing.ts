/**
 * Ed25519 signatures over a manifest's canonical bytes. The private key is a secret
 * (MANIFEST_SIGNING_KEY: the key as a JWK, `{"kty":"OKP","crv":"Ed25519","d":...,"x":...}`);
 * devices pin the public key from `GET /v1/keys` and verify every manifest against it.
 */
import { canonicalBytes } from "./canonical";
import { keyIdOf, type KeyStatement, type KeyStatementBody } from "./keys";
import type { Manifest, SignedManifest } from "./manifest";

export interface ManifestSigner {
  readonly keyId: string;
  /** base64 of the raw 32-byte public key. */
  readonly publicKey: string;
  sign(manifest: Manifest): Promise<SignedManifest>;
  /** A statement about a signing key (src/delivery/keys.ts), signed over its canonical bytes. */
  signStatement(statement: KeyStatementBody): Promise<KeyStatement>;
}

/**
 * The signer for `keyId` among the Worker's signing secrets (MANIFEST_SIGNING_KEY and, during a
 * rotation, MANIFEST_SIGNING_KEY_NEXT), or null when neither holds it.
 */
export async function signerFor(env: Env, keyId: string): Promise<ManifestSigner | null> {
  for (const secret of [env.MANIFEST_SIGNING_KEY, env.MANIFEST_SIGNING_KEY_NEXT]) {
    if (!secret) continue;
    const signer = await manifestSigner(secret);
    if (signer.keyId === keyId) return signer;
  }
  return null;
}

const signers = new Map<string, Promise<ManifestSigner>>();

export function manifestSigner(secret: string | undefined): Promise<ManifestSigner> {
  if (!secret) throw new Error("MANIFEST_SIGNING_KEY is not configured");
  let signer = signers.get(secret);
  if (!signer) {
    signer = createSigner(secret);
    signers.set(secret, signer);
  }
  return signer;
}

async function createSigner(secret: string): Promise<ManifestSigner> {
  let jwk: JsonWebKey;
  try {
    jwk = JSON.parse(secret) as JsonWebKey;
  } catch {
    throw new Error("MANIFEST_SIGNING_KEY is not a JWK (JSON)");
  }
  if (jwk.kty !== "OKP" || jwk.crv !== "Ed25519" || !jwk.d || !jwk.x)
    throw new Error("MANIFEST_SIGNING_KEY must be an Ed25519 private JWK with d and x");
  const key = await crypto.subtle.importKey(
    "jwk",
    { kty: "OKP", crv: "Ed25519", d: jwk.d, x: jwk.x },
    { name: "Ed25519" },
    false,
    ["sign"],
  );
  const raw = fromBase64Url(jwk.x);
  const keyId = await keyIdOf(raw);
  return {
    keyId,
    publicKey: toBase64(raw),
    async sign(manifest) {
      const signature = new Uint8Array(await crypto.subtle.sign({ name: "Ed25519" }, key, canonicalBytes(manifest)));
      return { manifest, signature: toBase64(signature), keyId };
    },
    async signStatement(statement) {
      const signature = new Uint8Array(await crypto.subtle.sign({ name: "Ed25519" }, key, canonicalBytes(statement)));
      return { statement, signedBy: keyId, signature: toBase64(signature) };
    },
  };
}

function fromBase64Url(s: string): Uint8Array {
  return Uint8Array.from(atob(s.replace(/-/g, "+").replace(/_/g, "/")), (c) => c.charCodeAt(0));
}

export function toBase64(bytes: Uint8Array): string {
  let binary = "";
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary);
}
