import { createMiddleware } from "hono/factory";
import { ApiError } from "./errors";

/**
 * `Authorization: Bearer <secret>`, compared in constant time; 503 naming the variable when the
 * Worker has no such secret, 401 with `required` otherwise.
 */
function requireBearer(secret: "ADMIN_TOKEN" | "EVALUATOR_SECRET", disabled: string, required: string) {
  return createMiddleware<{ Bindings: Env }>(async (c, next) => {
    const expected = c.env[secret];
    if (!expected) throw new ApiError(503, disabled, `${secret} is not configured`);
    const header = c.req.header("authorization") ?? "";
    const given = header.startsWith("Bearer ") ? header.slice(7) : "";
    if (!(await sameSecret(given, expected))) throw new ApiError(401, "unauthorized", required);
    await next();
  });
}

/** Admin routes. */
export const requireAdmin = requireBearer("ADMIN_TOKEN", "admin_disabled", "a valid admin bearer token is required");

/** The evaluator service's reads (`/v1/evaluator/objects/...`): the secret the Worker also sends the service. */
export const requireEvaluator = requireBearer("EVALUATOR_SECRET", "evaluator_disabled", "the evaluator's bearer secret is required");

/** Digests first, so the comparison takes the same time whatever the lengths. */
async function sameSecret(a: string, b: string): Promise<boolean> {
  const encoder = new TextEncoder();
  const [da, db] = await Promise.all([a, b].map((s) => crypto.subtle.digest("SHA-256", encoder.encode(s))));
  return crypto.subtle.timingSafeEqual(da, db);
}
