import { createMiddleware } from "hono/factory";
import { ApiError } from "./errors";

/** Admin routes: `Authorization: Bearer <ADMIN_TOKEN>`, compared in constant time. */
export const requireAdmin = createMiddleware<{ Bindings: Env }>(async (c, next) => {
  const expected = c.env.ADMIN_TOKEN;
  if (!expected) throw new ApiError(503, "admin_disabled", "ADMIN_TOKEN is not configured");
  const header = c.req.header("authorization") ?? "";
  const given = header.startsWith("Bearer ") ? header.slice(7) : "";
  if (!(await sameSecret(given, expected))) throw new ApiError(401, "unauthorized", "a valid admin bearer token is required");
  await next();
});

/**
 * The evaluator service's reads (`/v1/evaluator/objects/...`): `Authorization: Bearer
 * <EVALUATOR_SECRET>`, the secret the Worker also sends the service, compared in constant time.
 */
export const requireEvaluator = createMiddleware<{ Bindings: Env }>(async (c, next) => {
  const expected = c.env.EVALUATOR_SECRET;
  if (!expected) throw new ApiError(503, "evaluator_disabled", "EVALUATOR_SECRET is not configured");
  const header = c.req.header("authorization") ?? "";
  const given = header.startsWith("Bearer ") ? header.slice(7) : "";
  if (!(await sameSecret(given, expected))) throw new ApiError(401, "unauthorized", "the evaluator's bearer secret is required");
  await next();
});

/** Digests first, so the comparison takes the same time whatever the lengths. */
async function sameSecret(a: string, b: string): Promise<boolean> {
  const encoder = new TextEncoder();
  const [da, db] = await Promise.all([a, b].map((s) => crypto.subtle.digest("SHA-256", encoder.encode(s))));
  return crypto.subtle.timingSafeEqual(da, db);
}
