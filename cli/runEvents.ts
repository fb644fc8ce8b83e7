/**
 * Following a run's server-sent events (`GET /v1/runs/:id/events`). Phase events carry ids and
 * are stored by the run, so after a dropped connection `Last-Event-ID` resumes without a gap;
 * per-unit `progress` events are pushed live only and may be missed.
 */
import type { Api } from "./api.ts";
import { CliError } from "./errors.ts";

export interface RunEvent {
  readonly id?: string;
  readonly type: string;
  readonly data: Record<string, unknown>;
}

export const FINAL_EVENTS = ["done", "failed", "cancelled"];
/** Reconnections in a row that bring no new event before giving up. */
const MAX_SILENT_RECONNECTS = 3;

/** Calls `onEvent` for each event until the run ends; resolves to the run's final state. */
export async function followRun(api: Api, runId: string, onEvent: (event: RunEvent) => void): Promise<string> {
  let lastId: string | undefined;
  for (let silent = 0; silent <= MAX_SILENT_RECONNECTS; silent++) {
    const response = await api.send("GET", `/v1/runs/${runId}/events`, {
      headers: { accept: "text/event-stream", ...(lastId ? { "last-event-id": lastId } : {}) },
    });
    try {
      for await (const event of serverEvents(response)) {
        if (event.id) {
          lastId = event.id;
          silent = -1; // a stored event arrived: the connection was worth it
        }
        onEvent(event);
        if (FINAL_EVENTS.includes(event.type)) return event.type;
      }
    } catch {
      // the connection dropped mid-stream: resume from the last stored event
    }
    const { state } = await api.json<{ state: string }>("GET", `/v1/runs/${runId}`);
    if (state !== "running") return state;
  }
  throw new CliError(`the event stream of ${runId} keeps closing while the run is still running; try again`);
}

/** Parses a `text/event-stream` body (https://html.spec.whatwg.org/multipage/server-sent-events.html). */
export async function* serverEvents(response: Response): AsyncGenerator<RunEvent> {
  if (!response.body) return;
  let buffer = "";
  for await (const chunk of response.body.pipeThrough(new TextDecoderStream())) {
    buffer += chunk.replace(/\r\n?/g, "\n");
    let end: number;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const event = parseBlock(block);
      if (event) yield event;
    }
  }
}

function parseBlock(block: string): RunEvent | null {
  let id: string | undefined;
  let type = "message";
  const data: string[] = [];
  for (const line of block.split("\n")) {
    if (line === "" || line.startsWith(":")) continue;
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
    if (field === "id") id = value;
    else if (field === "event") type = value;
    else if (field === "data") data.push(value);
  }
  if (data.length === 0) return null;
  let parsed: unknown;
  try {
    parsed = JSON.parse(data.join("\n"));
  } catch {
    parsed = { text: data.join("\n") };
  }
  return { ...(id ? { id } : {}), type, data: (parsed ?? {}) as Record<string, unknown> };
}
