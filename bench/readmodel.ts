/**
 * Decision record 0008's local measurement:   npm run bench:readmodel
 * One read of a 4 KB read-model value per request, from Workers KV (cacheTtl 60 s) and from R2
 * behind the Cache API, on one local workerd under autocannon (16 connections, 8 s each).
 * Locally both stores live in the same process: this compares the request path's overhead, not
 * the production difference of the two (KV's data-centre cache against per-data-centre Cache API).
 */
import autocannon from "autocannon";
import { unstable_startWorker } from "wrangler";

process.env.WRANGLER_LOG ??= "error";

const worker = await unstable_startWorker({
  config: new URL("./readmodel/wrangler.toml", import.meta.url).pathname,
  dev: { logLevel: "error" } as never,
});
try {
  const address = await worker.url;
  const value = JSON.stringify({
    profile: "phones",
    newest: { version: 3, rollout: 100, signed: "x".repeat(4000), etag: '"e"' },
    fallback: null,
  });
  await worker.fetch(new URL("/seed", address), { method: "POST", body: value });
  console.log("one local workerd, 16 connections, 8 s each, a 4 KB value per request:");
  for (const store of ["kv", "r2"]) {
    const result = await autocannon({ url: new URL(`/${store}`, address).toString(), connections: 16, duration: 8 });
    console.log(
      `  ${store === "kv" ? "Workers KV (cacheTtl 60 s)" : "R2 behind the Cache API"}: ` +
        `${result.requests.average.toFixed(0)} req/s, ` +
        `latency p50 ${result.latency.p50} ms, p99 ${result.latency.p99} ` +
        `ms${result.non2xx ? `, ${result.non2xx} errors` : ""}`,
    );
  }
} finally {
  await worker.dispose();
}
