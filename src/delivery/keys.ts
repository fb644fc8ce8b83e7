/**
 * Signing keys and their rotation (docs/decisions/0009-key-rotation.md). Devices pin keys in the
 * app; a key they have not pinned is accepted only with a certificate, a statement signed by a
 * key they trust, as TUF rotates its root. A retired key is announced by a statement signed by
 * the current key, and devices then refuse manifests it signs.
 *   next     certified by the current key; devices learn it before it signs anything
 *   current  signs every manifest
 *   previous was current: manifests devices already hold may carry its signature
 *   retired  never to be trusted again (its secret can be deleted)
 */
import { sha256Hex } from "../storage/sha256";

export type KeyStatus = "current" | "next" | "previous" | "retired";

/** What a statement says: `certify` vouches for a key, `retire` withdraws one. */
export interface KeyStatementBody {
  readonly kind: "certify" | "retire";
  readonly keyId: string;
  /** base64 of the raw 32-byte Ed25519 public key. */
  readonly publicKey: string;
  readonly issuedAt: string;
}

export interface KeyStatement {
  readonly statement: KeyStatementBody;
  /** The key whose signature this is. */
  readonly signedBy: string;
  /** base64 Ed25519 signature over canonicalBytes(statement). */
  readonly signature: string;
}

/** One key as `GET /v1/keys` lists it. */
export interface SigningKey {
  readonly keyId: string;
  readonly algorithm: "Ed25519";
  readonly publicKey: string;
  readonly status: KeyStatus;
  /** For a key added by rotation: the current key's certificate of it. */
  readonly certificate?: KeyStatement;
  /** For a retired key: the current key's statement withdrawing it. */
  readonly retirement?: KeyStatement;
  readonly addedAt: string;
}

/** The edge copy of the key list (the Catalogue writes it on every change; `GET /v1/keys` reads it). */
export const KEYS_KEY = "delivery/keys";

/** A key id: the first 16 hex digits of the sha256 of the raw public key (what clients recompute). */
export async function keyIdOf(rawPublicKey: Uint8Array): Promise<string> {
  return (await sha256Hex(rawPublicKey)).slice(0, 16);
}
