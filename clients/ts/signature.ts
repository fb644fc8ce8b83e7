/**
 * Ed25519 verification of a signed manifest against keys pinned in the app, and key rotation
 * (docs/decisions/0009-key-rotation.md): a new key is trusted only with a certificate signed by a
 * trusted key, and a key withdrawn by a statement of a trusted key is never trusted again.
 */
import { canonicalBytes } from "../../src/delivery/canonical";
import type { KeyStatement, SigningKey } from "../../src/delivery/keys";
import type { SignedManifest } from "../../src/delivery/manifest";
import { keyIdOf } from "../../src/delivery/keys";

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
      throw new TypeError(
        `publicKeys.${keyId}: ${raw.byteLength} bytes, expected a raw ${PUBLIC_KEY_BYTES}-byte Ed25519 key`,
      );
    }
    decoded.set(keyId, raw);
  }
  if (decoded.size === 0) throw new TypeError("publicKeys: at least one pinned key is required");
  return decoded;
}

/**
 * What a verifier learned from key lists, for the client to persist (ClientState.keys): without
 * it a restarted app trusts a retired pinned key again, or no longer trusts a certified one.
 */
export interface LearnedKeys {
  /** Keys trusted through a certificate, as listed; restore checks their certificates again. */
  readonly certified: readonly SigningKey[];
  /**
   * Keys withdrawn by a retirement that a trusted key signed. Kept as ids: a store that adds one
   * only makes the client refuse more, and one that can delete them could delete anything.
   */
  readonly retired: readonly string[];
}

/** WebCrypto's key type, named through the API so that workerd's, the DOM's and Node's typings all agree. */
type VerifyKey = Awaited<ReturnType<typeof crypto.subtle.importKey>>;

/** Trusted keys (pinned, or certified by a trusted key) imported once into WebCrypto. */
export class ManifestVerifier {
  readonly #raw: Map<string, Uint8Array>;
  readonly #retired = new Set<string>();
  /** Keys learned through a certificate, kept after a retirement too: later keys' certificates chain through them. */
  readonly #certified = new Map<string, SigningKey>();
  readonly #imported = new Map<string, Promise<VerifyKey>>();

  constructor(publicKeys: Readonly<Record<string, string>>) {
    this.#raw = decodePinnedKeys(publicKeys);
  }

  /**
   * Learns from the server's key list (`GET /v1/keys`): a key certified by a trusted key becomes
   * trusted (chains too), a key retired by a statement of another trusted key is dropped for good.
   * Entries that do not verify are ignored: the list itself is not trusted, only its statements.
   */
  async learn(keys: readonly SigningKey[]): Promise<void> {
    for (let changed = true; changed; ) {
      changed = false;
      for (const key of keys) {
        if (this.#retired.has(key.keyId)) continue;
        if (
          key.retirement &&
          key.retirement.signedBy !== key.keyId &&
          (await this.#vouches(key.retirement, "retire", key))
        ) {
          this.#retire(key.keyId);
          changed = true;
        } else if (
          !this.#raw.has(key.keyId) &&
          key.certificate &&
          (await this.#vouches(key.certificate, "certify", key))
        ) {
          this.#raw.set(key.keyId, base64Bytes(key.publicKey));
          const { keyId, algorithm, publicKey, status, addedAt, certificate } = key;
          this.#certified.set(keyId, { keyId, algorithm, publicKey, status, addedAt, certificate });
          changed = true;
        }
      }
    }
  }

  /** What learn() has taught this verifier so far (see LearnedKeys). */
  learned(): LearnedKeys {
    return { certified: [...this.#certified.values()], retired: [...this.#retired] };
  }

  /**
   * Takes back what an earlier verifier learned (a restart): the certified keys only if their
   * certificates still chain to the pinned keys, and then every retirement, so that a retired key,
   * pinned or certified, stays refused even when `GET /v1/keys` cannot be read.
   */
  async restore(learned: LearnedKeys | undefined): Promise<void> {
    if (!learned) return;
    try {
      // Before the retirements: a retired key may still be the link that certified the current one.
      if (Array.isArray(learned.certified))
        await this.learn(learned.certified.filter((k) => typeof k === "object" && k !== null));
    } catch {
      // A garbled entry teaches nothing; the retirements below still hold.
    }
    for (const keyId of Array.isArray(learned.retired) ? learned.retired : [])
      if (typeof keyId === "string") this.#retire(keyId);
  }

  #retire(keyId: string): void {
    this.#retired.add(keyId);
    this.#raw.delete(keyId);
    this.#imported.delete(keyId);
  }

  /** Whether `statement` says `kind` of this very key and is signed by a trusted key. */
  async #vouches(statement: KeyStatement, kind: KeyStatement["statement"]["kind"], key: SigningKey): Promise<boolean> {
    const body = statement.statement;
    if (body?.kind !== kind || body.keyId !== key.keyId || body.publicKey !== key.publicKey) return false;
    // The key id is the key's own digest: a statement cannot name one key and carry another.
    let raw: Uint8Array;
    try {
      raw = base64Bytes(key.publicKey);
    } catch {
      return false;
    }
    if (raw.byteLength !== PUBLIC_KEY_BYTES || (await keyIdOf(raw)) !== key.keyId) return false;
    const signer = this.#key(statement.signedBy);
    if (!signer) return false;
    try {
      return await crypto.subtle.verify(
        { name: "Ed25519" },
        await signer,
        base64Bytes(statement.signature),
        canonicalBytes(body),
      );
    } catch {
      return false;
    }
  }

  /** Throws unless `signed.signature` is a valid signature of its manifest by a pinned key. */
  async verify(signed: SignedManifest): Promise<void> {
    if (
      typeof signed !== "object" ||
      signed === null ||
      typeof signed.manifest !== "object" ||
      signed.manifest === null
    ) {
      throw new Error("response is not a signed manifest");
    }
    if (typeof signed.keyId !== "string" || typeof signed.signature !== "string")
      throw new Error("signed manifest lacks keyId or signature");
    if (this.#retired.has(signed.keyId))
      throw new Error(`manifest signed with key "${signed.keyId}", which was retired`);
    const key = this.#key(signed.keyId);
    if (!key)
      throw new Error(
        `manifest signed with key "${signed.keyId}", which is neither pinned nor certified by a pinned key`,
      );
    let signature: Uint8Array;
    try {
      signature = base64Bytes(signed.signature);
    } catch {
      throw new Error("manifest signature is not base64");
    }
    if (signature.byteLength !== SIGNATURE_BYTES)
      throw new Error(`manifest signature is ${signature.byteLength} bytes, expected ${SIGNATURE_BYTES}`);
    const valid = await crypto.subtle.verify(
      { name: "Ed25519" },
      await key,
      signature,
      canonicalBytes(signed.manifest),
    );
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
