/**
 * The two stores decision record 0008 weighed, each answering what the manifest route reads per
 * request (a ~4 KB read-model value): GET /kv reads Workers KV with cacheTtl; GET /r2 asks the
 * Cache API and falls back to R2, filling the cache; POST /seed writes the value to both.
 */
interface Env {
  KV: KVNamespace;
  R2: R2Bucket;
}

const KEY = "delivery/releases/phones";

export default {
  async fetch(request: Request, env: Env, ctx: ExecutionContext): Promise<Response> {
    const url = new URL(request.url);
    if (url.pathname === "/seed") {
      const value = await request.text();
      await Promise.all([env.KV.put(KEY, value), env.R2.put(KEY, value)]);
      return new Response("ok");
    }
    if (url.pathname === "/kv") {
      const value = await env.KV.get(KEY, { cacheTtl: 60 });
      return new Response(value, { headers: { "content-type": "application/json" } });
    }
    if (url.pathname === "/r2") {
      const key = new Request(`https://read-model/${KEY}`);
      const cached = await caches.default.match(key);
      if (cached) return cached;
      const object = await env.R2.get(KEY);
      if (!object) return new Response("missing", { status: 404 });
      const response = new Response(await object.text(), {
        headers: { "content-type": "application/json", "cache-control": "public, max-age=60" },
      });
      ctx.waitUntil(caches.default.put(key, response.clone()));
      return response;
    }
    return new Response("not found", { status: 404 });
  },
};
