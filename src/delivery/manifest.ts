/** The signed manifest a device receives (docs/decisions/0004-delivery-formats-and-trust.md). */
import type { LoraTarget } from "../adapters/factors";
import type { AdapterFormat } from "./formats";
import type { SigningKey } from "./keys";

/** The release formats are declared in the format registry (./formats.ts). */
export type { AdapterFormat };

export interface ManifestAdapter {
  readonly sha256: string;
  readonly bytes: number;
  readonly format: AdapterFormat;
  /** Path of the blob on the Worker: `/v1/adapters/<sha256>`. */
  readonly url: string;
  /** The tasks this merged adapter serves. */
  readonly tasks: readonly string[];
}

/**
 * The base model a release's adapters were built for: an adapter works on that base only, so a
 * device holding another (a different id, or other weights under the same id) must refuse it.
 */
export interface ManifestModel {
  readonly id: string;
  /**
   * sha256 of model.onnx, or, for a model with external data files, of the list of its files' digests
   * (src/models/digest.ts).
   */
  readonly sha256: string;
  /**
   * A parts release's model shapes (module, in, out per LoRA target, in the contract's order):
   * what the client needs to read a part file and materialise a task's LoRA, signed with the rest.
   */
  readonly loraTargets?: readonly LoraTarget[];
}

export interface Manifest {
  readonly profile: string;
  /** The base model these adapters are for. */
  readonly model: ManifestModel;
  /**
   * The per-device task set (issue 14) this release is for, by subset key; absent for the
   * profile-wide release. Each subset has its own history, so versions increase per (profile, subset).
   */
  readonly subset?: string;
  /** Increases with every release, rollback included: a client never accepts a lower one. */
  readonly version: number;
  readonly createdAt: string;
  readonly expiresAt: string;
  /** Percent of devices (by stable bucket of their id) that get this release. */
  readonly rollout: number;
  /** Task -> sha256 of the adapter serving it, in the profile's first format. */
  readonly routing: Readonly<Record<string, string>>;
  /** Every blob of the release, one entry per merged adapter and format (a parts release: per task with a part). */
  readonly adapters: readonly ManifestAdapter[];
  /** A parts release's tasks whose bytes bought nothing: the device runs them on the base model alone. */
  readonly unadapted?: readonly string[];
}

export interface SignedManifest {
  readonly manifest: Manifest;
  /** Base64 Ed25519 signature over canonicalBytes(manifest). */
  readonly signature: string;
  readonly keyId: string;
}

/** `GET /v1/keys` (src/delivery/keys.ts). */
export interface SigningKeys {
  readonly keys: ReadonlyArray<SigningKey>;
}
