/**
 * Staged rollout: a device's bucket in [0, 100) comes from a hash of the profile and its id, so
 * it never changes; a release at p% reaches the devices with bucket < p, and raising p only adds
 * devices. A device that sends no id is never in a partial rollout, only in a full one.
 *
 * The percentage only grows (as staged rollouts in app stores): lowering it would send devices
 * that installed the release back to the previous, lower version, which clients refuse
 * (rollback protection). Taking a release back is a rollback: a new, higher version.
 */
import { sha256Hex } from "../storage/sha256";

export async function rolloutBucket(profileId: string, deviceId: string | undefined): Promise<number> {
  if (!deviceId) return 100;
  const digest = await sha256Hex(`${profileId}:${deviceId}`);
  return (parseInt(digest.slice(0, 8), 16) / 2 ** 32) * 100;
}

/** Whether the device in `bucket` gets a release rolled out to `percent`; 100 reaches everyone. */
export function inRollout(bucket: number, percent: number): boolean {
  return percent >= 100 || bucket < percent;
}

/** Why a release at `current`% cannot go to `requested`%, or null when it can. */
export function rolloutRefusal(profile: string, version: number, current: number, requested: number): string | null {
  if (requested >= current) return null;
  return (
    `release ${version} of profile ${profile} is at ${current}%; a rollout only grows (devices that have it ` +
    `would be sent back to an older version they refuse): to take it back, POST ` +
    `/v1/profiles/${profile}/rollback { "version": <an earlier one> }`
  );
}
