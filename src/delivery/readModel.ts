/**
 * The device path's read model (docs/decisions/0008-edge-read-model.md): what `GET /v1/manifest`
 * needs, published to Workers KV by the Durable Objects that own it whenever it changes, read at
 * the edge with no Durable Object on the way. Two kinds of keys:
 *   - `delivery/profiles`: every profile's id and match rules (the Catalogue writes it);
 *   - `delivery/releases/<profile>`: the signed manifests of the profile's rollout variants (its
 *     Releases object writes it): the newest release, and the newest full release before it,
 *     served to devices outside a partial rollout;
 *   - `delivery/subsets/<profile>/<subset>`: the same for one per-device task set's releases
 *     (issue 14; written by that subset's own Releases object);
 *   - `delivery/tasks/<model>`: each task's id, language and application, what a device's stated
 *     need maps to (the Catalogue writes it, at most once a second: KV takes one write per second per key).
 * Each value is one whole snapshot: a device may read an old one for up to the documented delay,
 * never half of two.
 */
import type { StoredProfile } from "./profiles";
import { inRollout } from "./rollout";
import type { NeedTask } from "./needs";

export const PROFILES_KEY = "delivery/profiles";
export const releasesKey = (profile: string) => `delivery/releases/${profile}`;
export const subsetReleasesKey = (profile: string, subset: string) => `delivery/subsets/${profile}/${subset}`;
export const tasksKey = (modelId: string) => `delivery/tasks/${modelId}`;

/** A signed manifest as served: its text, its ETag, and the release it is. */
export interface ManifestVariant {
  readonly version: number;
  readonly rollout: number;
  readonly signed: string;
  readonly etag: string;
}

export interface ProfileReleases {
  readonly profile: string;
  /** The newest release not retired, at its rollout; null when there is none (never released, or retired). */
  readonly newest: ManifestVariant | null;
  /** The newest release at 100% before `newest`: what devices outside a partial rollout keep. */
  readonly fallback: ManifestVariant | null;
  readonly publishedAt: string;
}

export type ProfileRules = Pick<StoredProfile, "id" | "version" | "match"> & {
  /**
   * Absent in read models published before per-device task sets: such a profile serves no subsets until republished.
   */
  readonly modelId?: string;
  readonly maxSubsets?: number;
  readonly subsetQuorum?: number;
  readonly taskSets?: StoredProfile["taskSets"];
};

export interface ProfilesModel {
  readonly profiles: readonly ProfileRules[];
  readonly publishedAt: string;
}

/** The manifest for a device in rollout bucket `bucket`, or null when the profile has none for it. */
export function variantFor(model: ProfileReleases, bucket: number): ManifestVariant | null {
  if (!model.newest) return null;
  return inRollout(bucket, model.newest.rollout) ? model.newest : model.fallback;
}

export function profilesModel(profiles: readonly StoredProfile[]): ProfilesModel {
  return {
    profiles: profiles.map(({ id, version, match, modelId, maxSubsets, subsetQuorum, taskSets }) => ({
      id,
      version,
      match,
      modelId,
      maxSubsets,
      subsetQuorum,
      ...(taskSets && Object.keys(taskSets).length ? { taskSets } : {}),
    })),
    publishedAt: new Date().toISOString(),
  };
}

/** A model's tasks as device needs see them (src/delivery/needs.ts). */
export interface TasksModel {
  readonly modelId: string;
  readonly tasks: readonly NeedTask[];
  readonly catalogueVersion: number;
  readonly publishedAt: string;
}
