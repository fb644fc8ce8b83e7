/**
 * `npm run bench:delivery`: what one local workerd serves on the device path. A real Worker
 * (wrangler, local R2, KV and Durable Objects), the fixtures pushed, a K=5 release published;
 * then autocannon on loopback, in one run: the signed manifest (resolved by traits from the edge
 * read model, 200 and 304) against `GET /v1/keys` (a route with no state), a whole adapter blob
 * and a resumed range of it, with the Cache API in front of R2 and, on a second Worker without
 * the Cache API (bench/delivery/uncached.ts), from R2 alone; and the blob cache's hit ratio over
 * a device fleet's downloads. Local figures: production spreads devices over Cloudflare's edge.
 */
import autocannon from "autocannon";
import { seed } from "../scripts/seed.ts";
import { startWorker, type LocalWorker } from "../test/node/worker.ts";

const SECONDS = 8;
const CONNECTIONS = 16;

async function released(worker: LocalWorker) {
  await seed(worker.url, worker.token, "r2-fixtures");
  const json = (body: unknown) => ({ method: "POST", body: JSON.stringify(body) });
  await worker.call("/v1/profiles/phones", {
    method: "PUT",
    body: JSON.stringify({ modelId: "d2c-char-lm", budget: { maxAdapters: 5 }, formats: ["peft", "onnx_adapter"] }),
  });
  const { runId } = (await (await worker.call("/v1/runs", json({ k: 5, method: "kmeans", seed: 0 }))).json()) as {
    runId: string;
  };
  for (let state = "running"; state === "running"; await new Promise((r) => setTimeout(r, 200))) {
    state = ((await (await worker.call(`/v1/runs/${runId}`)).json()) as { state: string }).state;
  }
  await worker.call("/v1/profiles/phones/releases", json({ runId }));
  const manifest = await fetch(`${worker.url}/v1/manifest?profile=phones&device=bench`);
  const etag = manifest.headers.get("etag")!;
  const { manifest: body } = (await manifest.json()) as {
    manifest: { adapters: Array<{ url: string; bytes: number; format: string }> };
  };
  return { etag, blobs: body.adapters, blob: body.adapters.find((a) => a.format === "peft")! };
}

async function load(name: string, options: autocannon.Options, expectedStatus = 200): Promise<number> {
  const result = await autocannon({ ...options, connections: CONNECTIONS, duration: SECONDS });
  const unexpected = expectedStatus === 304 ? result.non2xx - result.requests.total : result.non2xx;
  console.log(
    `  ${name}: ${result.requests.average.toFixed(0)} req/s, latency p50 ${result.latency.p50} ms, p99 ` +
      `${result.latency.p99} ms, ` +
      `${(result.throughput.average / 2 ** 20).toFixed(1)} ` +
      `MiB/s${unexpected > 0 ? `, ${unexpected} unexpected statuses` : ""}`,
  );
  return result.requests.average;
}

console.log(
  `one local workerd, ${CONNECTIONS} connections, ${SECONDS} s each (loopback, 2 cores shared with the load ` +
    `generator):`,
);
const cached = await startWorker();
try {
  const { etag, blob, blobs } = await released(cached);
  const keys = await load("GET /v1/keys (no state)", { url: `${cached.url}/v1/keys` });
  const manifest = await load("manifest by traits, 200 (edge read model)", {
    url: `${cached.url}/v1/manifest?ramMb=8192&device=bench`,
  });
  console.log(`  manifest throughput / keys throughput: ${((100 * manifest) / keys).toFixed(0)}%`);
  await load(
    "manifest revalidation, 304",
    { url: `${cached.url}/v1/manifest?profile=phones&device=bench`, headers: { "if-none-match": etag } },
    304,
  );
  await load(`adapter blob, ${blob.bytes} bytes (fp16 PEFT), Cache API in front of R2`, { url: cached.url + blob.url });
  await load("adapter blob, resumed second half (206), Cache API", {
    url: cached.url + blob.url,
    headers: { range: `bytes=${blob.bytes >> 1}-` },
  });
  // A fleet's downloads: every device fetches every blob of the release once, in turn.
  let hits = 0,
    total = 0;
  for (let device = 0; device < 50; device++) {
    for (const b of blobs) {
      const response = await fetch(cached.url + b.url);
      await response.arrayBuffer();
      total++;
      if (response.headers.get("x-blob-cache") === "hit") hits++;
    }
  }
  console.log(
    `  blob cache hit ratio over 50 devices x ${blobs.length} blobs (the release's, first download of each ` +
      `included): ${hits}/${total} = ${((100 * hits) / total).toFixed(1)}%`,
  );
} finally {
  await cached.dispose();
}
const uncached = await startWorker({ entrypoint: "bench/delivery/uncached.ts" });
try {
  const { blob } = await released(uncached);
  await load(`adapter blob, ${blob.bytes} bytes, R2 alone (no Cache API)`, { url: uncached.url + blob.url });
  await load("adapter blob, resumed second half (206), R2 alone", {
    url: uncached.url + blob.url,
    headers: { range: `bytes=${blob.bytes >> 1}-` },
  });
} finally {
  await uncached.dispose();
}
