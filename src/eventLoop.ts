/**
 * Resolves on a later turn of the event loop (a timer, not a microtask), so requests waiting on
 * this isolate are served between two pieces of CPU-bound work. An awaited cache hit is only a
 * microtask: a loop over cached units would otherwise hold the isolate for the whole batch, and in
 * `wrangler dev` the API, every Durable Object and the queue consumer share one isolate.
 */
export function nextTurn(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}
