import { bearerAuth } from "hono/bearer-auth";
import { every } from "hono/combine";
import { createMiddleware } from "hono/factory";
import { ApiError } from "./errors";

type Secret = "ADMIN_TOKEN" | "EVALUATOR_SECRET";

/**
 * `Authorization: Bearer <secret>` by Hono's bearerAuth: 503 naming the variable when the Worker
 * has no such secret (before the header is looked at), 401 with `required` otherwise.
 */
function requireBearer(secret: Secret, disabled: string, required: string) {
  const configured = createMiddleware<{ Bindings: Env }>(async (c, next) => {
    if (!c.env[secret]) throw new ApiError(503, disabled, `${secret} is not configured`);
    await next();
  });
  // One answer for a missing, malformed or wrong token (bearerAuth's default is 400 for malformed),
  // in the uniform error body; bearerAuth adds its WWW-Authenticate challenge.
  const refused = () => Response.json({ error: { code: "unauthorized", message: required } }, { status: 401 });
  const checked = bearerAuth<{ Bindings: Env }>({
    // Ours, not bearerAuth's `token`: its comparison is `===` of the digests, ours constant-time.
    verifyToken: (given, c) => sameSecret(given, c.env[secret] ?? ""),
    noAuthenticationHeader: { message: refused },
    invalidAuthenticationHeader: { message: refused },
    invalidToken: { message: refused },
  });
  return every(configured, checked);
}

/** Admin routes. */
export const requireAdmin = requireBearer("ADMIN_TOKEN", "admin_disabled", "a valid admin bearer token is required");

/** The evaluator service's reads (`/v1/evaluator/objects/...`): the secret the Worker also sends the service. */
export const requireEvaluator = requireBearer(
  "EVALUATOR_SECRET",
  "evaluator_disabled",
  "the evaluator's bearer secret is required",
);

/** Digests first, so the comparison takes the same time whatever the lengths. */
async function sameSecret(a: string, b: string): Promise<boolean> {
  const encoder = new TextEncoder();
  const [da, db] = await Promise.all([a, b].map((s) => crypto.subtle.digest("SHA-256", encoder.encode(s))));
  return crypto.subtle.timingSafeEqual(da, db);
}
