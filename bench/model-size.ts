/**
 * `npm run bench:size [-- --sizes 5M,20M --dir /tmp/d2c-edge-synthetic --runs 3]`: how big a base
 * model the Worker path can take. For synthetic models of the reference architecture (random
 * weights; tools/fixtures/synthetic.py, generated here when missing, never committed), fp32 and
 * int8, each in a fresh workerd isolate with onnxruntime-web (wasm, one thread): parameters, file
 * bytes, the WebAssembly.Memory size after loading the session and after one forward of a batch
 * (10 x 64 tokens), load and forward time. Local workerd does not enforce the 128 MB isolate limit,
 * so this measures what a model would need. src/models/workerMemory.ts fits its estimator to this.
 */
import { spawnSync } from "node:child_process";
import { createReadStream, existsSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join, normalize } from "node:path";
import { parseArgs } from "node:util";
import { unstable_startWorker } from "wrangler";
import { WORKER_MEMORY_LIMIT, estimatedWorkerMemory } from "../src/models/workerMemory.ts";

const { values } = parseArgs({
  options: {
    sizes: { type: "string", default: "5M,20M,50M,100M,300M" },
    dir: { type: "string", default: join(tmpdir(), "d2c-edge-synthetic") },
    runs: { type: "string", default: "3" },
  },
});
const here = (path: string) => new URL(path, import.meta.url).pathname;
const root = values.dir!;
const MiB = 2 ** 20;

interface Synthetic {
  modelId: string;
  parameters: number;
  config: { d_model: number; n_layers: number };
}
interface Measured {
  rssBytes: number;
  peakRssBytes: number;
  onnxBytes: number;
  runtimeBytes: number;
  afterLoadBytes: number;
  afterForwardBytes: number;
  loadMs: number;
  firstForwardMs: number;
  forwardMs: number;
}

/** The model folder of a size, generated (fp32, plain, int8) when missing. */
function synthetic(size: string): string {
  const out = join(root, size.toLowerCase());
  const dir = join(out, "models", `synthetic-${size.toLowerCase()}`);
  if (!existsSync(join(dir, "int8", "model.onnx"))) {
    console.error(`generating ${size} into ${out}`);
    const python = spawnSync(
      "/usr/bin/python3",
      [here("../tools/fixtures/synthetic.py"), "--params", size, "--out", out, "--int8"],
      { stdio: "inherit" },
    );
    if (python.status !== 0) throw new Error(`tools/fixtures/synthetic.py --params ${size} failed`);
  }
  return dir;
}

// The isolate fetches each model from here, as a Worker reads one from R2.
const server = createServer((request, response) => {
  const path = normalize(join(root, decodeURIComponent(new URL(request.url!, "http://x").pathname)));
  if (!path.startsWith(root) || !existsSync(path)) return void response.writeHead(404).end();
  response.writeHead(200, { "content-length": statSync(path).size });
  createReadStream(path).pipe(response);
});
await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

/**
 * The resident and peak resident bytes of the workerd processes this benchmark started (children
 * of this process); `resetPeak` first restarts the peak from the current resident size (clear_refs 5).
 */
function workerdMemory(resetPeak = false): { rss: number; peak: number } {
  let rss = 0;
  let peak = 0;
  for (const pid of readdirSync("/proc").filter((name) => /^\d+$/.test(name))) {
    try {
      const status = readFileSync(`/proc/${pid}/status`, "utf8");
      const field = (name: string) => Number(status.match(new RegExp(`^${name}:\\s+(\\d+)`, "m"))?.[1] ?? 0);
      if (!/^Name:\s+workerd$/m.test(status) || field("PPid") !== process.pid) continue;
      if (resetPeak) writeFileSync(`/proc/${pid}/clear_refs`, "5");
      rss += 1024 * field("VmRSS");
      peak += 1024 * field("VmHWM");
    } catch {
      // exited meanwhile
    }
  }
  return { rss, peak };
}

async function measure(
  dir: string,
  variant: "fp32" | "int8",
): Promise<Measured | { error: string; wasmBytes: number; rssBytes: number; peakRssBytes: number }> {
  const rel = dir.slice(root.length);
  const file = variant === "fp32" ? "model.onnx" : "int8/model.onnx";
  const query = new URLSearchParams({
    model: `${base}${rel}/${file}`,
    contract: `${base}${rel}/model.json`,
    batch: "10",
    sequence: "64",
    runs: values.runs!,
  });
  // A fresh isolate per model: wasm memory never shrinks, so an earlier model would hide in the figures.
  const worker = await unstable_startWorker({
    config: here("./model-size/wrangler.toml"),
    dev: { logLevel: "error" } as never,
  });
  try {
    await worker.fetch("http://bench/runtime");
    // Resident memory of the process with the runtime started, then its peak while the model loads
    // and runs: what the isolate took beyond the wasm memory (fetched bytes, JS copies) shows here.
    const before = workerdMemory(true);
    const measured = (await (await worker.fetch(`http://bench/measure?${query}`)).json()) as
      | Measured
      | { error: string; wasmBytes: number };
    return { ...measured, rssBytes: before.rss, peakRssBytes: workerdMemory().peak };
  } finally {
    await worker.dispose();
  }
}

const mb = (bytes: number) => (bytes / MiB).toFixed(1);
const estimate = (onnxBytes: number, variant: "fp32" | "int8") => estimatedWorkerMemory(onnxBytes, variant === "int8");
console.log(
  "| model | params | variant | onnx MiB | wasm MiB: runtime | after load | after forward | workerd peak RSS " +
    "growth MiB | estimate MiB | fits 128 MiB | load s | forward 10x64 ms |",
);
console.log("|---|---|---|---|---|---|---|---|---|---|---|---|");
try {
  for (const size of values.sizes!.split(",")) {
    const dir = synthetic(size);
    const info = JSON.parse(readFileSync(join(dir, "synthetic.json"), "utf8")) as Synthetic;
    const shape = `d=${info.config.d_model}, ${info.config.n_layers} layers`;
    for (const variant of ["fp32", "int8"] as const) {
      const m = await measure(dir, variant);
      const params = `${(info.parameters / 1e6).toFixed(1)} M (${shape})`;
      const row =
        "error" in m
          ? `| ${info.modelId} | ${params} | ${variant} | | failed: ${m.error} (wasm ${mb(m.wasmBytes)} MiB at ` +
            `failure) | | | ${mb(m.peakRssBytes - m.rssBytes)} | | | | |`
          : `| ${info.modelId} | ${params} | ${variant} | ${mb(m.onnxBytes)} | ${mb(m.runtimeBytes)} | ` +
            `${mb(m.afterLoadBytes)} | ${mb(m.afterForwardBytes)} | ${mb(m.peakRssBytes - m.rssBytes)} | ` +
            `${mb(estimate(m.onnxBytes, variant))} | ` +
            `${estimate(m.onnxBytes, variant) <= WORKER_MEMORY_LIMIT ? "yes" : "no"} | ` +
            `${(m.loadMs / 1000).toFixed(1)} | ${m.forwardMs.toFixed(0)} |`;
      console.log(row);
    }
  }
} finally {
  server.close();
}
console.log(
  `\nwasm: the WebAssembly.Memory's size in the isolate; peak RSS growth: the workerd processes' peak ` +
    `resident size over their size with the runtime started ` +
    `(the fetched bytes, JS copies and compiled code as well). estimate: estimatedWorkerMemory ` +
    `(src/models/workerMemory.ts) against WORKER_MEMORY_LIMIT ${WORKER_MEMORY_LIMIT / MiB} MiB.`,
);
