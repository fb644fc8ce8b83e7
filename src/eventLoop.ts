/**
 * Resolves on a later turn of the event loop (a timer, not a microtask), so requests waiting on
 * this isolate are served between two pieces of CPU-bound work. An awaited cache hit is only a
 * microtask: a loop over cached units would otherwise hold the isolate for the whole batch, and in
 * `wrangler dev` the API, every Durable Object and the queue consumer share one isolate.
 *
 * `idleMs` leaves the isolate idle for that long. One turn admits one hop of a request, but a
 * request is a chain of hops (the entry worker, the Durable Object's RPC, each chunk of the
 * response body), and with no idle time each hop waits behind the next ~40 ms unit of work.
 */
export function nextTurn(idleMs = 0): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, idleMs));
}

/**
 * The idle time after each forward pass of a run's units: about 11% of the consumer's wall time beside a ~40 ms
 * forward pass. With it, `npm run bench:worker-scale` at N = 1,000 measured the API's p95 during the run at
 * 840.3 ms, against 1,360 ms with none (docs/worker-scale.json, README).
 */
export const IDLE_AFTER_UNIT_MS = 5;
