/**
 * What the evaluator service reads (evaluator/): model files, merged adapters and task examples,
 * streamed from R2 with their ETag, read-only, for the evaluator's secret only. Everything under
 * these prefixes is either immutable (merged/, content-addressed) or checked by digest on the
 * service side (model.json's sha256 of the ONNX, the unit's pinned examples digest).
 *   GET /v1/evaluator/objects/<R2 key>   200 with the bytes; 304 to a matching If-None-Match or
 *   an If-Modified-Since it was not modified after; 412 to a failed If-Match or If-Unmodified-Since
 */
import { Hono } from "hono";
import { quoted } from "../errors";
import { requireEvaluator } from "./auth";
import { evaluatePreconditions, parsePreconditions } from "./conditional";
import { ApiError } from "./errors";

const READABLE = ["models/", "merged/", "examples/"] as const;

/** R2's limit on a key, in UTF-8 bytes: a longer one is refused here, not by R2 as a 500. */
export const MAX_KEY_BYTES = 1024;

export const evaluatorObjects = new Hono<{ Bindings: Env }>();

evaluatorObjects.use("*", requireEvaluator);

evaluatorObjects.get("/*", async (c) => {
  const prefix = "/v1/evaluator/objects/";
  let key: string;
  try {
    key = decodeURIComponent(c.req.path.slice(c.req.path.indexOf(prefix) + prefix.length));
  } catch {
    throw new ApiError(400, "bad_key", "the key is not valid percent-encoding");
  }
  const bytes = new TextEncoder().encode(key).byteLength;
  if (bytes > MAX_KEY_BYTES)
    throw new ApiError(400, "bad_key", `the key is ${bytes} bytes; R2 keys are at most ${MAX_KEY_BYTES} bytes`);
  if (
    !READABLE.some((p) => key.startsWith(p)) ||
    key.split("/").some((part) => part === "" || part === "." || part === "..")
  ) {
    throw new ApiError(404, "not_readable", `the evaluator reads keys under ${READABLE.join(", ")} only`);
  }
  // The preconditions are ours to evaluate, not R2's: R2 throws on a malformed one (a 500) and
  // answers every failed one alike, where a failed If-Match is a 412 and only If-None-Match a 304.
  const preconditions = parsePreconditions(c.req.raw.headers);
  const object = await c.env.BUCKET.get(key);
  if (!object) throw new ApiError(404, "not_found", `no object ${quoted(key, 200)}`);
  const headers = new Headers({ etag: object.httpEtag, "cache-control": "no-store" });
  const outcome = evaluatePreconditions(preconditions, object);
  if (outcome !== "proceed") await object.body.cancel();
  if (outcome === "304") return new Response(null, { status: 304, headers });
  if (outcome === "412")
    throw new ApiError(
      412,
      "precondition_failed",
      `${quoted(key, 200)} is ${object.httpEtag} now: a precondition of the request does not hold`,
    );
  headers.set("content-length", String(object.size));
  headers.set("content-type", "application/octet-stream");
  return new Response(object.body, { headers });
});
