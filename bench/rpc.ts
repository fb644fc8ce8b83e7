/**
 * Decision record 0001's measurement, in workerd:   npm run bench:rpc
 * The argument size at which each call style breaks, and the per-call latency of both.
 */
import { unstable_startWorker } from "wrangler";

const worker = await unstable_startWorker({
  config: new URL("./rpc/wrangler.toml", import.meta.url).pathname,
  dev: { logLevel: "error" } as never,
});
try {
  console.log("argument size   itty-durable            native RPC");
  for (const kb of [1, 8, 16, 32, 64, 128, 1024, 4096]) {
    const r = (await (await worker.fetch(`http://bench/size?bytes=${kb * 1024}&name=size-${kb}`)).json()) as {
      itty: string;
      rpc: string;
    };
    console.log(`${String(kb).padStart(6)} KB       ${r.itty.padEnd(22).slice(0, 60)}  ${r.rpc.slice(0, 60)}`);
  }
  // One object accumulating 100 KB items: itty-durable re-persists the whole object each call.
  let itty = "ok";
  let total = 0;
  for (let i = 0; i < 40 && itty === "ok"; i++) {
    const r = (await (await worker.fetch(`http://bench/size?bytes=${60 * 1024}&name=grow`)).json()) as { itty: string };
    itty = r.itty;
    total += 60;
  }
  const p = (await (await worker.fetch("http://bench/persisted?name=grow")).json()) as {
    inMemory: number;
    persisted: number;
  };
  console.log(
    `one object growing by 60 KB per call, ${total} KB in all: itty-durable calls ${itty}; storage holds ` +
      `${p.persisted} of ${p.inMemory} items`,
  );
  const l = (await (await worker.fetch("http://bench/latency?calls=2000")).json()) as {
    ittyMeanMs: number;
    rpcMeanMs: number;
  };
  console.log(
    `per-call latency (100-byte argument, 2000 sequential calls): itty-durable ${l.ittyMeanMs.toFixed(3)} ms, ` +
      `RPC ${l.rpcMeanMs.toFixed(3)} ms (mean)`,
  );
} finally {
  await worker.dispose();
}
