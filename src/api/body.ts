/**
 * Request bodies read up to a limit and no further. A declared Content-Length above the limit is
 * refused before a byte is read; a chunked body (no length) is counted as it streams and
 * cancelled at the limit, so a 70 MB upload costs at most the limit's worth of reading.
 */
import { bodyLimit } from "hono/body-limit";
import { ApiError } from "./errors";

const tooLarge = (what: string, limit: number) =>
  new ApiError(413, "too_large", `${what} is larger than the limit of ${limit} bytes`);

function checkDeclaredLength(request: Request, limit: number, what: string): void {
  const declared = Number(request.headers.get("content-length") ?? "0");
  if (declared > limit) throw new ApiError(413, "too_large", `${what} is ${declared} bytes, the limit is ${limit}`);
}

/** Hono's bodyLimit, for a route that reads its body whole, with the 413s of the functions below. */
export const limitedBody = (limit: number, what: string) =>
  bodyLimit({
    maxSize: limit,
    onError: (c) => {
      checkDeclaredLength(c.req.raw, limit, what);
      throw tooLarge(what, limit);
    },
  });

/**
 * The whole body as bytes, at most `limit` of them. Ours, not bodyLimit: the limit travels with
 * the JSON parse (jsonBody), so no route can take a body without one.
 */
export async function boundedBody(request: Request, limit: number, what = "request body"): Promise<Uint8Array> {
  checkDeclaredLength(request, limit, what);
  if (!request.body) return new Uint8Array(0);
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > limit) {
      await reader.cancel();
      throw tooLarge(what, limit);
    }
    chunks.push(value);
  }
  const body = new Uint8Array(total);
  let at = 0;
  for (const chunk of chunks) {
    body.set(chunk, at);
    at += chunk.byteLength;
  }
  return body;
}

/**
 * The multipart form, parsed as it streams (no second copy of a large file) through a counter
 * that errors the stream, and so cancels the upload, past `limit` bytes. Ours, not bodyLimit:
 * that buffers a chunked body whole into a second array before the handler sees it.
 */
export async function boundedForm(request: Request, limit: number): Promise<FormData | "not_multipart"> {
  checkDeclaredLength(request, limit, "request body");
  let exceeded = false;
  let total = 0;
  const counter = new TransformStream<Uint8Array, Uint8Array>({
    transform(chunk, controller) {
      total += chunk.byteLength;
      if (total > limit) {
        exceeded = true;
        controller.error(new RangeError("body over its limit"));
        return;
      }
      controller.enqueue(chunk);
    },
  });
  const counted = new Request(request.url, {
    method: request.method,
    headers: request.headers,
    body: request.body?.pipeThrough(counter) ?? null,
  });
  try {
    return await counted.formData();
  } catch {
    if (exceeded) throw tooLarge("request body", limit);
    return "not_multipart";
  }
}
