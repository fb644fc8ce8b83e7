/**
 * Server-sent events of a run: phase changes are stored (a client that reconnects with
 * Last-Event-ID misses nothing), per-unit progress is only pushed to whoever is listening.
 */
export interface RunEvent {
  readonly seq?: number;
  readonly type: string;
  readonly data: unknown;
}

const encoder = new TextEncoder();

/** The run's stored events after `seq` (a reconnecting client's Last-Event-ID). */
export function storedEvents(sql: SqlStorage, after: number): RunEvent[] {
  return sql
    .exec<{ seq: number; type: string; data: string }>("SELECT * FROM events WHERE seq > ? ORDER BY seq", after)
    .toArray()
    .map((e) => ({ seq: e.seq, type: e.type, data: JSON.parse(e.data) as unknown }));
}

export function sseFrame(event: RunEvent): Uint8Array {
  const id = event.seq === undefined ? "" : `id: ${event.seq}\n`;
  return encoder.encode(`${id}event: ${event.type}\ndata: ${JSON.stringify(event.data)}\n\n`);
}

export class RunListeners {
  private writers = new Set<WritableStreamDefaultWriter<Uint8Array>>();

  /** A response that replays `stored` then stays open for new events until `close`. */
  open(stored: readonly RunEvent[], finished: boolean): Response {
    const { readable, writable } = new TransformStream<Uint8Array, Uint8Array>();
    const writer = writable.getWriter();
    for (const event of stored) void writer.write(sseFrame(event));
    if (finished) void writer.close();
    else this.writers.add(writer);
    return new Response(readable, {
      headers: { "content-type": "text/event-stream", "cache-control": "no-store", connection: "keep-alive" },
    });
  }

  push(event: RunEvent): void {
    const frame = sseFrame(event);
    for (const writer of this.writers) {
      writer.write(frame).catch(() => this.writers.delete(writer)); // the client went away
    }
  }

  close(): void {
    for (const writer of this.writers) void writer.close().catch(() => undefined);
    this.writers.clear();
  }
}
