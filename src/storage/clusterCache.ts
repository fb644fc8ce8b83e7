/**
 * The cluster cache's sixteen objects (durable-objects/ClusterCache.ts), one per leading hex digit
 * of the keys (sha256 hex, src/runs/keys.ts): reads and writes go to each key's object, in parallel.
 */
import type { CachedLoss, CachedMerge } from "../runs/cached";

const shardOf = (key: string) => key[0] ?? "0";

const shard = (env: Env, name: string) => env.CLUSTER_CACHE.get(env.CLUSTER_CACHE.idFromName(`cache-${name}`));

/** Each shard's stub with its items, called in parallel. */
async function perShard<T, R>(
  env: Env,
  items: readonly T[],
  key: (item: T) => string,
  call: (stub: ReturnType<typeof shard>, items: T[]) => Promise<R>,
): Promise<R[]> {
  const groups = new Map<string, T[]>();
  for (const item of items) {
    const name = shardOf(key(item));
    const group = groups.get(name);
    if (group) group.push(item);
    else groups.set(name, [item]);
  }
  return Promise.all([...groups].map(([name, group]) => call(shard(env, name), group)));
}

export async function cachedMerges(env: Env, keys: readonly string[]): Promise<Record<string, CachedMerge>> {
  return Object.assign(
    {},
    ...(await perShard(
      env,
      keys,
      (k) => k,
      (stub, g) => stub.cachedMerges(g),
    )),
  );
}

export async function recordMerge(env: Env, key: string, merge: CachedMerge): Promise<void> {
  await shard(env, shardOf(key)).recordMerge(key, merge);
}

export async function cachedLosses(env: Env, keys: readonly string[]): Promise<Record<string, CachedLoss>> {
  return Object.assign(
    {},
    ...(await perShard(
      env,
      keys,
      (k) => k,
      (stub, g) => stub.cachedLosses(g),
    )),
  );
}

export async function recordLosses(env: Env, entries: readonly (CachedLoss & { key: string })[]): Promise<void> {
  await perShard(
    env,
    entries,
    (e) => e.key,
    (stub, g) => stub.recordLosses(g),
  );
}
