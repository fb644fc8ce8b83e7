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
 * The idle time after each forward pass of a run's units. Measured at N = 1,000 under `npm start`
 * (GET /v1/tasks polled once a second during evaluation): p50 about 600 ms with no idle time,
 * about 230 ms at 2 ms and about 130 ms at 5 ms, for about 11% of the consumer's wall time (5 ms
 * beside a ~40 ms forward pass).
 */
export const IDLE_AFTER_UNIT_MS = 5;
