/**
 * The test env with its Durable Object namespaces, the read-model KV and R2 wrapped to count what the
 * code under test asks of them, handed to the app in place of `env` (as workers-sdk's fixtures wrap
 * bindings): the production code keeps no counters of its own.
 */
import { env } from "cloudflare:workers";
import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { app } from "../../src/api/app";
import { ADMIN } from "./api";

export interface Counts {
  /** Stubs taken from any Durable Object namespace: a path that takes none calls none. */
  durableObjectStubs: number;
  /** `get`s on DELIVERY, the device path's read model. */
  kvReads: number;
  /** `put`s on BUCKET (R2): a write that changes nothing should make none. */
  r2Puts: number;
  /** `get`s on BUCKET: a blob read (to encode a release, say). */
  r2Gets: number;
}

const NAMESPACES = ["CATALOGUE", "CLUSTER_RUN", "RELEASES", "PROFILE_SUBSETS", "SUBSET_RELEASES"] as const;

/** `target` with `count` called (with the method's name) before each call of the methods named. */
function counting<T extends object>(target: T, methods: readonly string[], count: (method: string) => void): T {
  return new Proxy(target, {
    get(object, key) {
      const value: unknown = Reflect.get(object, key, object);
      if (typeof value !== "function") return value;
      // Bound to the real binding: workerd's binding methods refuse another `this`.
      return (...args: unknown[]) => {
        if (typeof key === "string" && methods.includes(key)) count(key);
        return (value as (...a: unknown[]) => unknown).apply(object, args);
      };
    },
  });
}

/** `base` (default: the test env) with counted bindings, and the counts so far. */
export function countingEnv(base: Env = env): { env: Env; counts: Counts } {
  const counts: Counts = { durableObjectStubs: 0, kvReads: 0, r2Puts: 0, r2Gets: 0 };
  const kv = counting(base.DELIVERY, ["get", "getWithMetadata"], () => counts.kvReads++);
  const bucket = counting(base.BUCKET, ["put", "get"], (method) =>
    method === "put" ? counts.r2Puts++ : counts.r2Gets++,
  );
  const wrapped: Env = { ...base, DELIVERY: kv, BUCKET: bucket };
  for (const name of NAMESPACES) {
    (wrapped as unknown as Record<string, object>)[name] = counting(
      base[name],
      ["get", "getByName"],
      () => counts.durableObjectStubs++,
    );
  }
  return { env: wrapped, counts };
}

/** A request with the admin token to the app under `bindings`, its waitUntil work awaited. */
export async function callWith(bindings: Env, path: string, init: RequestInit = {}): Promise<Response> {
  const ctx = createExecutionContext();
  const request = new Request(`http://d2c.test${path}`, { ...init, headers: init.headers ?? ADMIN });
  const response = await app.fetch(request, bindings, ctx);
  await waitOnExecutionContext(ctx);
  return response;
}
