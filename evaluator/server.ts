/**
 * The evaluator's HTTP API (node:http, JSON):
 *   POST /v1/units   an EvaluationUnit -> its UnitResult (loss, exactMatch, examples, tokens,
 *                    forwardPasses counted here, ms); `Authorization: Bearer <EVALUATOR_SECRET>`
 *   GET  /healthz    { ok, onnxruntime, executionProvider, threads, units, forwardPasses }
 * Errors are `{ "error": { "code", "message" } }`: 400 a malformed unit, 401 a wrong secret,
 * 409 bytes that changed since the run pinned them, 422 a unit no retry changes (the domain's
 * refusal), 502 the Worker could not give what the unit names. The Worker retries all but 422.
 */
import { createHash, timingSafeEqual } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { DomainError } from "../src/errors.ts";
import { ChangedError, UpstreamError } from "./objects.ts";
import type { Runtime } from "./runtime.ts";
import { UnitRequest, type UnitEvaluator } from "./units.ts";

/** A unit is a few hundred bytes. */
const MAX_BODY = 64 * 1024;

class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

const digest = (s: string) => createHash("sha256").update(s).digest();

/** Digests first, so the comparison takes the same time whatever the lengths. */
function sameSecret(given: string, expected: string): boolean {
  return timingSafeEqual(digest(given), digest(expected));
}

function send(response: ServerResponse, status: number, body: unknown): void {
  const json = JSON.stringify(body);
  response.writeHead(status, {
    "content-type": "application/json",
    "content-length": Buffer.byteLength(json),
    "cache-control": "no-store",
  });
  response.end(json);
}

async function readJson(request: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY) throw new HttpError(413, "body_too_large", `a unit is at most ${MAX_BODY} bytes`);
    chunks.push(chunk);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString("utf8"));
  } catch {
    throw new HttpError(400, "invalid_json", "the body is not JSON");
  }
}

export function createEvaluatorServer(secret: string, units: UnitEvaluator, runtime: Runtime): Server {
  return createServer((request, response) => {
    handle(request, response).catch((e: unknown) => {
      const known =
        e instanceof HttpError
          ? e
          : e instanceof DomainError
            ? new HttpError(422, e.code, e.message)
            : e instanceof ChangedError
              ? new HttpError(409, "changed", e.message)
              : e instanceof UpstreamError
                ? new HttpError(502, "upstream", e.message)
                : null;
      if (!known) console.error("unit failed:", e);
      const error = known ?? new HttpError(500, "internal", e instanceof Error ? e.message : "internal error");
      if (!response.headersSent) send(response, error.status, { error: { code: error.code, message: error.message } });
    });
  });

  async function handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const path = new URL(request.url ?? "/", "http://evaluator").pathname;
    if (path === "/healthz" && request.method === "GET") {
      return send(response, 200, {
        ok: true,
        onnxruntime: runtime.version,
        executionProvider: runtime.used ?? runtime.preferred,
        threads: runtime.threads,
        units: units.units,
        forwardPasses: units.forwardPasses,
      });
    }
    if (path !== "/v1/units") throw new HttpError(404, "not_found", `no route ${request.method} ${path}`);
    if (request.method !== "POST") throw new HttpError(405, "method_not_allowed", "POST a unit");
    const header = request.headers.authorization ?? "";
    if (!sameSecret(header.startsWith("Bearer ") ? header.slice(7) : "", secret)) {
      throw new HttpError(401, "unauthorized", "the evaluator's bearer secret is required");
    }
    const parsed = UnitRequest.safeParse(await readJson(request));
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new HttpError(400, "invalid_unit", `${issue.path.join(".") || "body"}: ${issue.message}`);
    }
    const result = await units.evaluate(parsed.data);
    // JSON has no NaN: a non-finite loss goes as null and the run fails it, naming the task.
    send(response, 200, { ...result, loss: Number.isFinite(result.loss) ? result.loss : null });
  }
}
