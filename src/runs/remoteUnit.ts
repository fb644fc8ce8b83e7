/**
 * A unit evaluated by the evaluator service (evaluator/, onnxruntime-node) instead of in this
 * isolate: `POST <EVALUATOR_URL>/v1/units` with the shared secret. Any failure here is an
 * ordinary Error, so the queue retries it with backoff (then the dead-letter queue fails the run
 * with the message); only the service's 422 (a unit that no retry changes, e.g. an adapter the
 * reader refuses) is a DomainError. Messages name the evaluator by its origin and never carry
 * the secret.
 */
import { DomainError } from "../errors";
import type { EvaluationUnit, UnitResult } from "./unit";

/** Below the run's unit timeout (60 s, src/runs/start.ts), so the watchdog never races a live request. */
const REMOTE_TIMEOUT_MS = 50_000;

const RESULT_FIELDS = ["loss", "exactMatch", "examples", "tokens", "forwardPasses", "ms"] as const;

export async function evaluateRemotely(env: Env, unit: EvaluationUnit): Promise<UnitResult> {
  const { origin, endpoint } = evaluatorEndpoint(env);
  const what = `evaluator ${origin}`;
  let response: Response;
  try {
    response = await fetch(endpoint, {
      method: "POST",
      headers: { authorization: `Bearer ${env.EVALUATOR_SECRET}`, "content-type": "application/json" },
      body: JSON.stringify(unit),
      signal: AbortSignal.timeout(REMOTE_TIMEOUT_MS),
    });
  } catch (e) {
    const timedOut = e instanceof Error && (e.name === "TimeoutError" || e.name === "AbortError");
    throw new Error(
      timedOut
        ? `${what} did not answer within ${REMOTE_TIMEOUT_MS / 1000} s`
        : `${what} is unreachable: ${e instanceof Error ? e.message : String(e)}`,
    );
  }
  const body = await response.json<Record<string, unknown>>().catch(() => null);
  if (!response.ok) {
    const error = (body?.error ?? {}) as { code?: unknown; message?: unknown };
    const message =
      `${what} answered ${response.status}` +
      `${typeof error.message === "string" ? `: ${error.message.slice(0, 300)}` : ""}`;
    if (response.status === 422)
      throw new DomainError("unprocessable", typeof error.code === "string" ? error.code : "unit_refused", message);
    throw new Error(message);
  }
  // A non-finite loss arrives as null (JSON has no NaN): the run then fails at once, naming the task.
  const bad = RESULT_FIELDS.find((f) => typeof body?.[f] !== "number" && !(f === "loss" && body?.[f] === null));
  if (!body || bad) throw new Error(`${what} answered without a numeric ${bad ?? "body"}`);
  const [loss, exactMatch, examples, tokens, forwardPasses, ms] = RESULT_FIELDS.map((f) =>
    body[f] === null ? NaN : (body[f] as number),
  );
  return { loss, exactMatch, examples, tokens, forwardPasses, ms };
}

/** The service's unit endpoint, and its origin without any userinfo for messages. */
function evaluatorEndpoint(env: Env): { origin: string; endpoint: string } {
  let url: URL;
  try {
    url = new URL(env.EVALUATOR_URL ?? "");
  } catch {
    throw new DomainError("unavailable", "evaluator_unconfigured", "EVALUATOR_URL is not a URL");
  }
  if (!env.EVALUATOR_SECRET)
    throw new DomainError("unavailable", "evaluator_unconfigured", "EVALUATOR_SECRET is not set");
  return { origin: url.origin, endpoint: new URL("v1/units", url.href.endsWith("/") ? url.href : `${url.href}/`).href };
}
