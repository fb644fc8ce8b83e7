/**
 * Reads of the device path's read model (./readModel.ts) from Workers KV: KV's own edge cache
 * (`cacheTtl`) keeps a hot key in the data centre, and a short per-isolate memo spares even that
 * lookup for the requests one isolate serves back to back. Together they bound how late a device
 * sees a change: KV's propagation (up to ~60 s) + KV_CACHE_TTL_S + the isolate memo.
 */

/** KV's edge cache of a read-model key, seconds (60 is the least KV allows). */
export const KV_CACHE_TTL_S = 60;
/** Per-isolate memo, ms, unless the READ_MODEL_ISOLATE_MS variable says otherwise (tests: 0). */
const ISOLATE_MS = 5_000;
/** Keys memoised at most: the profiles list and one per profile. */
const MEMO_ENTRIES = 1_000;

const memo = new Map<string, { value: unknown; until: number }>();

export async function readEdge<T>(env: Env, key: string): Promise<T | null> {
  const now = Date.now();
  const ttl = env.READ_MODEL_ISOLATE_MS === undefined ? ISOLATE_MS : Number(env.READ_MODEL_ISOLATE_MS);
  const hit = ttl > 0 ? memo.get(key) : undefined;
  if (hit && hit.until > now) return hit.value as T | null;
  const value = await env.DELIVERY.get<T>(key, { type: "json", cacheTtl: KV_CACHE_TTL_S });
  if (ttl > 0) {
    if (memo.size >= MEMO_ENTRIES) memo.clear();
    memo.set(key, { value, until: now + ttl });
  }
  return value;
}
