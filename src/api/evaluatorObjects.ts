/**
 * What the evaluator service reads (evaluator/): model files, merged adapters and task examples,
 * streamed from R2 with their ETag, read-only, for the evaluator's secret only. Everything under
 * these prefixes is either immutable (merged/, content-addressed) or checked by digest on the
 * service side (model.json's sha256 of the ONNX, the unit's pinned examples digest).
 *   GET /v1/evaluator/objects/<R2 key>   200 with the bytes, 304 to a matching If-None-Match
 */
import { Hono } from "hono";
import { requireEvaluator } from "./auth";
import { ApiError } from "./errors";

const READABLE = ["models/", "merged/", "examples/"] as const;

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
  if (!READABLE.some((p) => key.startsWith(p)) || key.split("/").some((part) => part === "" || part === "." || part === "..")) {
    throw new ApiError(404, "not_readable", `the evaluator reads keys under ${READABLE.join(", ")} only`);
  }
  const object = await c.env.BUCKET.get(key, { onlyIf: c.req.raw.headers });
  if (!object) throw new ApiError(404, "not_found", `no object ${key}`);
  const headers = new Headers({ etag: object.httpEtag, "cache-control": "no-store" });
  // onlyIf matched the ETag: the object comes without a body.
  if (!("body" in object)) return new Response(null, { status: 304, headers });
  headers.set("content-length", String(object.size));
  headers.set("content-type", "application/octet-stream");
  return new Response(object.body, { headers });
});
