/** Ed25519 verification of a signed manifest against keys pinned in the app. */
import { canonicalBytes } from "../../src/delivery/canonical";
import type { SignedManifest } from "../../src/delivery/manifest";

const PUBLIC_KEY_BYTES = 32;
const SIGNATURE_BYTES = 64;

/** Standard base64 (not base64url) to bytes; throws on anything else. */
export function base64Bytes(text: string): Uint8Array {
  const binary = atob(text);
  return Uint8Array.from(binary, (char) => char.charCodeAt(0));
}

/** Decodes and size-checks the pinned keys up front, so a mistyped key fails at construction. */
export function decodePinnedKeys(publicKeys: Readonly<Record<string, string>>): Map<string, Uint8Array> {
  const decoded = new Map<string, Uint8Array>();
  for (const [keyId, text] of Object.entries(publicKeys)) {
    let raw: Uint8Array;
    try {
      raw = base64Bytes(text);
    } catch {
      throw new TypeError(`publicKeys.${keyId}: not base64`);
    }
    if (raw.byteLength !== PUBLIC_KEY_BYTES) {
      throw new TypeError(`publicKeys.${keyId}: ${raw.byteLength} bytes, expected a raw ${PUBLIC_KEY_BYTES}-byte Ed25519 key`);
    }
    decoded.set(keyId, raw);
  }
  if (decoded.size === 0) throw new TypeError("publicKeys: at least one pinned key is required");
  return decoded;
}

/** WebCrypto's key type, named through the API so that workerd's, the DOM's and Node's typings all agree. */
type VerifyKey = Awaited<ReturnType<typeof crypto.subtle.importKey>>;

/** Pinned keys imported once into WebCrypto. */
export class ManifestVerifier {
  readonly #raw: ReadonlyMap<string, Uint8Array>;
  readonly #imported = new Map<string, Promise<VerifyKey>>();

  constructor(publicKeys: Readonly<Record<string, string>>) {
    this.#raw = decodePinnedKeys(publicKeys);
  }

  /** Throws unless `signed.signature` is a valid signature of its manifest by a pinned key. */
  async verify(signed: SignedManifest): Promise<void> {
    if (typeof signed !== "object" || signed === null || typeof signed.manifest !== "object" || signed.manifest === null) {
      throw new Error("response is not a signed manifest");
    }
    if (typeof signed.keyId !== "string" || typeof signed.signature !== "string") throw new Error("signed manifest lacks keyId or signature");
    const key = this.#key(signed.keyId);
    if (!key) throw new Error(`manifest signed with key "${signed.keyId}", which is not pinned`);
    let signature: Uint8Array;
    try {
      signature = base64Bytes(signed.signature);
    } catch {
      throw new Error("manifest signature is not base64");
    }
    if (signature.byteLength !== SIGNATURE_BYTES) throw new Error(`manifest signature is ${signature.byteLength} bytes, expected ${SIGNATURE_BYTES}`);
    const valid = await crypto.subtle.verify({ name: "Ed25519" }, await key, signature, canonicalBytes(signed.manifest));
    if (!valid) throw new Error(`manifest signature does not verify with key "${signed.keyId}"`);
  }

  #key(keyId: string): Promise<VerifyKey> | undefined {
    const raw = this.#raw.get(keyId);
    if (!raw) return undefined;
    let key = this.#imported.get(keyId);
    if (!key) {
      key = crypto.subtle.importKey("raw", raw, { name: "Ed25519" }, false, ["verify"]);
      this.#imported.set(keyId, key);
    }
    return key;
  }
}
