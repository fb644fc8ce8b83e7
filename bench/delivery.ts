/**
 * `npm run bench:delivery`: what one local workerd serves on the device path. A real Worker
 * (wrangler, local R2 and Durable Objects), the fixtures pushed, a K=5 release published; then
 * autocannon on loopback: the signed manifest (200 and 304), a whole adapter blob, and a resumed
 * range of it. Local figures: production spreads devices over Cloudflare's edge and its cache.
 */
import autocannon from "autocannon";
import { seed } from "../scripts/seed.ts";
import { startWorker } from "../test/node/worker.ts";

const SECONDS = 8;
const CONNECTIONS = 16;

const worker = await startWorker();
try {
  await seed(worker.url, worker.token, "r2-fixtures");
  const json = (body: unknown) => ({ method: "POST", body: JSON.stringify(body) });
  await worker.call("/v1/profiles/phones", { method: "PUT", body: JSON.stringify({ modelId: "d2c-char-lm", budget: { maxAdapters: 5 }, formats: ["peft", "onnx_adapter"] }) });
  const { runId } = (await (await worker.call("/v1/runs", json({ k: 5, method: "kmeans", seed: 0 }))).json()) as { runId: string };
  for (let state = "running"; state === "running"; await new Promise((r) => setTimeout(r, 200))) {
    state = ((await (await worker.call(`/v1/runs/${runId}`)).json()) as { state: string }).state;
  }
  await worker.call("/v1/profiles/phones/releases", json({ runId }));
  const manifest = await fetch(`${worker.url}/v1/manifest?profile=phones&device=bench`);
  const etag = manifest.headers.get("etag")!;
  const { manifest: body } = (await manifest.json()) as { manifest: { adapters: Array<{ url: string; bytes: number; format: string }> } };
  const blob = body.adapters.find((a) => a.format === "peft")!;

  const cases: Array<[string, autocannon.Options]> = [
    ["manifest by traits, 200", { url: `${worker.url}/v1/manifest?ramMb=8192&device=bench` }],
    ["manifest revalidation, 304", { url: `${worker.url}/v1/manifest?profile=phones&device=bench`, headers: { "if-none-match": etag } }],
    [`adapter blob, ${blob.bytes} bytes (fp16 PEFT)`, { url: worker.url + blob.url }],
    ["adapter blob, resumed second half (206)", { url: worker.url + blob.url, headers: { range: `bytes=${blob.bytes >> 1}-` } }],
  ];
  console.log(`one local workerd, ${CONNECTIONS} connections, ${SECONDS} s each (loopback, 2 cores shared with the load generator):`);
  for (const [name, options] of cases) {
    const result = await autocannon({ ...options, connections: CONNECTIONS, duration: SECONDS });
    const errors = result.non2xx - (name.includes("304") ? result.requests.total : 0);
    console.log(`  ${name}: ${result.requests.average.toFixed(0)} req/s, latency p50 ${result.latency.p50} ms, p99 ${result.latency.p99} ms, ` +
      `${(result.throughput.average / 2 ** 20).toFixed(1)} MiB/s${errors > 0 ? `, ${errors} unexpected statuses` : ""}`);
  }
} finally {
  await worker.dispose();
}
