/**
 * The cluster cache's sixteen objects (durable-objects/ClusterCache.ts), one per leading hex digit
 * of the keys (sha256 hex, src/runs/keys.ts): reads and writes go to each key's object, in parallel.
 */
import type { CachedLoss, CachedMerge } from "../runs/cached";

const shard = (env: Env, key: string) => env.CLUSTER_CACHE.get(env.CLUSTER_CACHE.idFromName(`cache-${key[0] ?? "0"}`));

function byShard<T>(items: readonly T[], key: (item: T) => string): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const item of items) {
    const s = key(item)[0] ?? "0";
    groups.set(s, [...(groups.get(s) ?? []), item]);
  }
  return groups;
}

export async function cachedMerges(env: Env, keys: readonly string[]): Promise<Record<string, CachedMerge>> {
  const groups = [...byShard(keys, (k) => k).values()];
  return Object.assign({}, ...(await Promise.all(groups.map((g) => shard(env, g[0]).cachedMerges(g)))));
}

export async function recordMerge(env: Env, key: string, merge: CachedMerge): Promise<void> {
  await shard(env, key).recordMerge(key, merge);
}

export async function cachedLosses(env: Env, keys: readonly string[]): Promise<Record<string, CachedLoss>> {
  const groups = [...byShard(keys, (k) => k).values()];
  return Object.assign({}, ...(await Promise.all(groups.map((g) => shard(env, g[0]).cachedLosses(g)))));
}

export async function recordLosses(env: Env, entries: readonly (CachedLoss & { key: string })[]): Promise<void> {
  await Promise.all([...byShard(entries, (e) => e.key).values()].map((g) => shard(env, g[0].key).recordLosses(g)));
}
