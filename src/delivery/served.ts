/**
 * Everything devices are served, across every profile: each profile's own releases and each of
 * its released per-device task sets (decision 0010). What a key rotation must re-sign before it
 * answers, and what must be signed by another key before one is retired (decision 0009).
 */
import { catalogue } from "../storage/catalogue";
import { profileSubsets, releases, subsetReleases } from "../storage/runs";

/** One history devices are served from, by name for operators, and its two operations. */
interface ServedHistory {
  readonly name: string;
  resign(): Promise<number>;
  keyIds(): Promise<string[]>;
}

async function servedHistories(env: Env): Promise<ServedHistory[]> {
  const histories: ServedHistory[] = [];
  for (const { id: profile } of await catalogue(env).profiles()) {
    const own = releases(env, profile);
    histories.push({
      name: `profile ${profile}`,
      resign: () => own.resignServed(profile),
      keyIds: () => own.servedKeyIds(profile),
    });
    for (const subset of await profileSubsets(env, profile).releasedKeys()) {
      const scope = { profile, subset };
      const stub = subsetReleases(env, scope);
      histories.push({
        name: `subset ${subset} of profile ${profile}`,
        resign: () => stub.resignServed(scope),
        keyIds: () => stub.servedKeyIds(scope),
      });
    }
  }
  return histories;
}

/** Re-signs every served manifest with the current key; returns how many. */
export async function resignEverythingServed(env: Env): Promise<number> {
  let manifests = 0;
  for (const history of await servedHistories(env)) manifests += await history.resign();
  return manifests;
}

/** The histories whose served manifests `keyId` still signs. */
export async function servedBy(env: Env, keyId: string): Promise<string[]> {
  const names: string[] = [];
  for (const history of await servedHistories(env))
    if ((await history.keyIds()).includes(keyId)) names.push(history.name);
  return names;
}
