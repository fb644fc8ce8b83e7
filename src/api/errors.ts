import type { Context } from "hono";
import { HTTPException } from "hono/http-exception";
import type { ContentfulStatusCode } from "hono/utils/http-status";

/** An expected failure: rendered as `{ error: { code, message } }` with its status. */
export class ApiError extends HTTPException {
  constructor(status: ContentfulStatusCode, readonly code: string, message: string) {
    super(status, { message });
  }
}

export function renderError(err: Error, c: Context): Response {
  if (err instanceof ApiError) {
    return c.json({ error: { code: err.code, message: err.message } }, err.status);
  }
  if (err instanceof HTTPException) {
    return c.json({ error: { code: "http_error", message: err.message || "request failed" } }, err.status);
  }
  // Unexpected: log it, answer without internals.
  console.error("unhandled error", err);
  return c.json({ error: { code: "internal", message: "internal error" } }, 500);
}
