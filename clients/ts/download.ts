/** Resumable, verified download of one content-addressed adapter blob into the store. */
import type { ManifestAdapter } from "../../src/delivery/manifest";
import { sha256Hex } from "../../src/storage/sha256";
import { storeKeys, type AdapterStore } from "./store";

/** What the client calls to reach the Worker; a Worker's own `fetch` fits, so tests can run in-process. */
export type FetchLike = (request: Request) => Promise<Response>;

export interface BlobSource {
  readonly fetch: FetchLike;
  /** The Worker's base URL without a trailing slash; manifest urls are paths below it. */
  readonly baseUrl: string;
}

/**
 * Brings `adapter` into the store under its sha256 key, resuming from a stored partial with
 * `Range` + `If-Range`. A body cut short is kept as the partial for the next attempt; bytes that
 * do not hash to `adapter.sha256` are discarded. Throws with the reason on any failure.
 */
export async function downloadAdapter(
  adapter: ManifestAdapter,
  source: BlobSource,
  store: AdapterStore,
): Promise<void> {
  const { sha256 } = adapter;
  const partialKey = storeKeys.partial(sha256);
  let partial = (await store.get(partialKey)) ?? new Uint8Array(0);
  if (partial.byteLength >= adapter.bytes) partial = new Uint8Array(0);

  let response = await source.fetch(blobRequest(source, adapter, partial.byteLength));
  if (response.status === 416 && partial.byteLength > 0) {
    // The server no longer agrees with what we hold: start over from the first byte.
    await response.body?.cancel();
    await store.delete(partialKey);
    partial = new Uint8Array(0);
    response = await source.fetch(blobRequest(source, adapter, 0));
  }

  let prefix: Uint8Array;
  if (response.status === 200) {
    prefix = new Uint8Array(0); // a full body: If-Range did not match, or no range was asked
  } else if (response.status === 206 && partial.byteLength > 0 && rangeStart(response) === partial.byteLength) {
    prefix = partial;
  } else {
    await response.body?.cancel();
    if (response.status === 206) await store.delete(partialKey);
    const range = response.status === 206 ? ` with Content-Range "${response.headers.get("Content-Range")}"` : "";
    throw new Error(`adapter ${sha256}: HTTP ${response.status}${range}`);
  }

  const received = await readBody(response, prefix, adapter.bytes);
  if (received.bytes.byteLength > adapter.bytes) {
    await store.delete(partialKey);
    throw new Error(`adapter ${sha256}: body is longer than the manifest's ${adapter.bytes} bytes`);
  }
  if (received.cut !== null || received.bytes.byteLength < adapter.bytes) {
    await store.put(partialKey, received.bytes);
    throw new Error(
      `adapter ${sha256}: download stopped at ${received.bytes.byteLength} of ${adapter.bytes} ` +
        `bytes${received.cut ? ` (${received.cut})` : ""}`,
    );
  }
  const digest = await sha256Hex(received.bytes);
  if (digest !== sha256) {
    await store.delete(partialKey);
    throw new Error(`adapter ${sha256}: downloaded bytes hash to ${digest}`);
  }
  await store.put(storeKeys.adapter(sha256), received.bytes);
  await store.delete(partialKey);
}

function blobRequest(source: BlobSource, adapter: ManifestAdapter, from: number): Request {
  const headers = new Headers();
  if (from > 0) {
    headers.set("Range", `bytes=${from}-`);
    // Blobs are content-addressed, so the strong ETag is the quoted sha256.
    headers.set("If-Range", `"${adapter.sha256}"`);
  }
  return new Request(`${source.baseUrl}${adapter.url}`, { headers });
}

function rangeStart(response: Response): number | null {
  const match = /^bytes (\d+)-\d+\/\d+$/.exec(response.headers.get("Content-Range") ?? "");
  return match ? Number(match[1]) : null;
}

/**
 * Reads the body after `prefix`, stopping one byte past `limit` (enough to know it is too long).
 * A stream error is returned as `cut`, with what arrived before it.
 */
async function readBody(
  response: Response,
  prefix: Uint8Array,
  limit: number,
): Promise<{ bytes: Uint8Array; cut: string | null }> {
  const chunks: Uint8Array[] = [prefix];
  let length = prefix.byteLength;
  let cut: string | null = null;
  const reader = response.body?.getReader();
  if (reader) {
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        chunks.push(value);
        length += value.byteLength;
        if (length > limit) {
          await reader.cancel();
          break;
        }
      }
    } catch (error) {
      cut = error instanceof Error ? error.message : String(error);
    }
  }
  const bytes = new Uint8Array(length);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return { bytes, cut };
}
