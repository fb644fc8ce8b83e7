import type { Context } from "hono";
import { HTTPException } from "hono/http-exception";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { cutAt, DomainError, type ErrorKind } from "../errors";

/** An expected failure of the HTTP layer itself (auth, body, parameters): rendered with its status. */
export class ApiError extends HTTPException {
  constructor(
    status: ContentfulStatusCode,
    readonly code: string,
    message: string,
  ) {
    super(status, { message });
  }
}

const STATUS: Record<ErrorKind, ContentfulStatusCode> = {
  invalid: 400,
  not_found: 404,
  conflict: 409,
  unprocessable: 422,
  unavailable: 503,
};

/**
 * Characters of an error message at most. Messages quote what they echo (`quoted` in src/errors.ts);
 * this is the backstop for one that interpolates a request's value whole, so no error body grows
 * with the request.
 */
export const MAX_MESSAGE = 1000;

const capped = (message: string) =>
  message.length <= MAX_MESSAGE
    ? message
    : `${cutAt(message, MAX_MESSAGE)}… (message cut, ${message.length} characters)`;

/** The single place where errors become `{ error: { code, message } }` responses. */
export function renderError(err: Error, c: Context): Response {
  if (err instanceof ApiError) {
    return c.json({ error: { code: err.code, message: capped(err.message) } }, err.status);
  }
  if (err instanceof DomainError) {
    return c.json({ error: { code: err.code, message: capped(err.message) } }, STATUS[err.kind]);
  }
  // A middleware's own answer (bearerAuth's 401, built in this body with its WWW-Authenticate header).
  if (err instanceof HTTPException && err.res) return err.getResponse();
  if (err instanceof HTTPException) {
    return c.json({ error: { code: "http_error", message: capped(err.message || "request failed") } }, err.status);
  }
  // Unexpected: log it, answer without internals.
  console.error("unhandled error", err);
  return c.json({ error: { code: "internal", message: "internal error" } }, 500);
}
