/**
 * Queue sends within Cloudflare's limits (https://developers.cloudflare.com/queues/platform/limits/):
 * at most 100 messages and 256 KB per sendBatch, 128 KB per message. Messages of several units
 * (~6 KB) or similarity blocks (~11 KB) reach the byte limit long before 100 messages.
 */
const MAX_BATCH_MESSAGES = 100;
/** Under the 256 KB batch limit, with room for the per-message overhead the platform counts. */
const MAX_BATCH_BYTES = 200 * 1024;

/** Sends the bodies in as few batches as the limits allow, in order. */
export async function sendMessages(queue: Queue, bodies: readonly unknown[]): Promise<void> {
  let batch: { body: unknown }[] = [];
  let bytes = 0;
  for (const body of bodies) {
    const size = JSON.stringify(body).length;
    if (batch.length > 0 && (batch.length === MAX_BATCH_MESSAGES || bytes + size > MAX_BATCH_BYTES)) {
      await queue.sendBatch(batch);
      [batch, bytes] = [[], 0];
    }
    batch.push({ body });
    bytes += size;
  }
  if (batch.length > 0) await queue.sendBatch(batch);
}
