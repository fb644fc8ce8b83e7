/**
 * Inference latency in workerd (onnxruntime-web, wasm, one thread):
 *   npm run bench:inference
 * prints median and p90 of a forward pass of 10 x 64 tokens (the model's maximum sequence),
 * with no adapter and with a rank-8 adapter on all 16 targets.
 */
import { unstable_startWorker } from "wrangler";

const worker = await unstable_startWorker({ config: new URL("./wrangler.toml", import.meta.url).pathname, dev: { logLevel: "warn" } as never });
try {
  for (const batch of [1, 10, 32]) {
    const response = await worker.fetch(`http://bench/?batch=${batch}&sequence=64&runs=30`);
    const r = (await response.json()) as { batch: number; sequence: number; runs: number; loadMs: number; timings: Record<string, number[]> };
    for (const [name, times] of Object.entries(r.timings)) {
      const sorted = [...times].sort((a, b) => a - b);
      const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))].toFixed(1);
      console.log(`batch ${r.batch} x ${r.sequence} tokens, adapter ${name.padEnd(5)}: median ${at(0.5)} ms, p90 ${at(0.9)} ms (${r.runs} runs)`);
    }
  }
} finally {
  await worker.dispose();
}
