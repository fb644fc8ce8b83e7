/**
 * Staged rollout: a device's bucket in [0, 100) comes from a hash of the profile and its id, so
 * it never changes; a release at p% reaches the devices with bucket < p, and raising p only adds
 * devices. A device that sends no id is never in a partial rollout.
 */
import { sha256Hex } from "../storage/sha256";

export async function rolloutBucket(profileId: string, deviceId: string | undefined): Promise<number> {
  if (!deviceId) return 100;
  const digest = await sha256Hex(`${profileId}:${deviceId}`);
  return (parseInt(digest.slice(0, 8), 16) / 2 ** 32) * 100;
}

export function inRollout(bucket: number, percent: number): boolean {
  return bucket < percent;
}
