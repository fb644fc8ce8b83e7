/**
 * The same object behind two call styles: itty-durable (method name in the URL, arguments as
 * JSON in a `do-content` header, the object persisted as one value) and native RPC.
 */
import { DurableObject } from "cloudflare:workers";
import { createDurable, proxyDurable } from "itty-durable";

interface BenchEnv {
  ITTY: DurableObjectNamespace;
  RPC: DurableObjectNamespace<RpcBox>;
}

export class IttyBox extends createDurable({ autoPersist: true }) {
  items: string[] = [];
  add(item: string) {
    this.items.push(item);
    return this.items.length;
  }
  /** How many items storage holds: itty persists the whole object as one value, unawaited. */
  async persisted() {
    const stored =
      (await (this as unknown as { state: DurableObjectState }).state.storage.get<{ items?: string[] }>("data")) ?? {};
    return { inMemory: this.items.length, persisted: stored.items?.length ?? 0 };
  }
}

export class RpcBox extends DurableObject<BenchEnv> {
  add(item: string): number {
    this.ctx.storage.sql.exec("CREATE TABLE IF NOT EXISTS items (item TEXT)");
    this.ctx.storage.sql.exec("INSERT INTO items VALUES (?)", item);
    return this.ctx.storage.sql.exec<{ n: number }>("SELECT count(*) AS n FROM items").one().n;
  }
}

async function attempt(call: () => Promise<unknown>): Promise<string> {
  try {
    await call();
    return "ok";
  } catch (e) {
    return `fails: ${String(e instanceof Error ? e.message : e).slice(0, 90)}`;
  }
}

export default {
  async fetch(request: Request, env: BenchEnv): Promise<Response> {
    const url = new URL(request.url);
    const name = url.searchParams.get("name") ?? "bench";
    const itty = proxyDurable(env.ITTY, { name: "ITTY", parse: true }).get(name) as unknown as {
      add(item: string): Promise<number>;
    };
    const rpc = env.RPC.get(env.RPC.idFromName(name));
    if (url.pathname === "/size") {
      const bytes = Number(url.searchParams.get("bytes"));
      const item = "x".repeat(bytes);
      return Response.json({
        bytes,
        itty: await attempt(() => itty.add(item)),
        rpc: await attempt(() => rpc.add(item)),
      });
    }
    if (url.pathname === "/persisted") {
      const box = proxyDurable(env.ITTY, { name: "ITTY", parse: true }).get(name) as unknown as {
        persisted(): Promise<unknown>;
      };
      return Response.json(await box.persisted());
    }
    // /latency: sequential calls with a small argument; the clock advances across I/O only.
    const calls = Number(url.searchParams.get("calls") ?? 200);
    const time = async (call: () => Promise<unknown>) => {
      const t0 = Date.now();
      for (let i = 0; i < calls; i++) await call();
      return (Date.now() - t0) / calls;
    };
    const item = "y".repeat(100);
    return Response.json({
      calls,
      ittyMeanMs: await time(() => itty.add(item)),
      rpcMeanMs: await time(() => rpc.add(item)),
    });
  },
};
