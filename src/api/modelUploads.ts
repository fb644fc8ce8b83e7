/**
 * Model files too large for one request, as R2 multipart uploads: the CLI (`npx d2c-edge model
 * push`) creates an upload per file, sends its parts, completes it, then registers the model with
 * a model.json naming the files. A file lands under a directory named by its sha256
 * (`models/<id>/<sha256>/<file>`, src/models/pushedFiles.ts), so a registered model's files are
 * never overwritten, and a completed file is hashed against that digest before anything may name it.
 * Every upload is recorded in the Catalogue (R2 cannot list them): a part or completion names an
 * upload this model started for this file, and a step that fails on the upload's own bytes (a
 * short body, parts R2 does not hold, the wrong digest) aborts it: the client starts again.
 */
import { Hono } from "hono";
import { z } from "zod";
import type { PushedUpload } from "../models/pushedUpload";
import { isVerified, pushedFile, verifiedMarker } from "../models/pushedFiles";
import { catalogue } from "../storage/catalogue";
import { modelKey } from "../storage/keys";
import { requireAdmin } from "./auth";
import { quoted } from "../errors";
import { ApiError } from "./errors";
import { checkedId, jsonBody } from "./validate";

/** R2 parts are 5 MiB to 5 GiB (all but the last of one size); the Worker's request limit caps them lower. */
export const PART_BYTES = 64 << 20;
const FILE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}\.(onnx|onnx_data|data)$/;
const SHA256 = /^[0-9a-f]{64}$/;

export const UploadFile = z.object({
  file: z
    .string({ error: "the file name is required" })
    .regex(FILE, "must be a plain file name ending .onnx, .onnx_data or .data"),
  sha256: z.string({ error: "the file's sha256 is required" }).regex(SHA256, "must be 64 lowercase hex digits"),
});
export const CompleteUpload = UploadFile.extend({
  parts: z
    .array(z.object({ partNumber: z.number().int().min(1).max(10_000), etag: z.string().min(1).max(200) }))
    .min(1)
    .max(10_000),
});

/** R2 binding errors end with their code, e.g. "uploadPart: The specified multipart upload does not exist. (10024)". */
const r2Code = (e: unknown) => (e instanceof Error ? /\((\d{5})\)$/.exec(e.message)?.[1] : undefined);
const NO_SUCH_UPLOAD = "10024";
const INVALID_PART = "10025";

const unknownUpload = (modelId: string, uploadId: string) =>
  new ApiError(
    404,
    "unknown_upload",
    `model ${modelId} has no upload ${quoted(uploadId)} in progress: start one with POST /v1/models/${modelId}/uploads`,
  );

/** The recorded upload `uploadId` of this model and file, still open; anything else is refused by name. */
async function openUpload(
  env: Env,
  modelId: string,
  uploadId: string,
  file: z.infer<typeof UploadFile>,
): Promise<PushedUpload> {
  const upload = await catalogue(env).upload(uploadId);
  if (!upload || upload.modelId !== modelId) throw unknownUpload(modelId, uploadId);
  if (upload.file !== file.file || upload.sha256 !== file.sha256) {
    throw new ApiError(
      409,
      "upload_mismatch",
      `upload ${uploadId} is of ${pushedFile(upload.sha256, upload.file)}, not ${pushedFile(file.sha256, file.file)}`,
    );
  }
  if (upload.completed)
    throw new ApiError(
      409,
      "upload_complete",
      `upload ${uploadId} is already complete: start a new upload to push the file again`,
    );
  return upload;
}

/** Ends an upload whose step failed (best effort: the cron's sweep and R2's lifecycle catch the rest). */
async function abort(env: Env, upload: PushedUpload): Promise<void> {
  await env.BUCKET.resumeMultipartUpload(
    modelKey(upload.modelId, pushedFile(upload.sha256, upload.file)),
    upload.uploadId,
  )
    .abort()
    .catch((e: unknown) => console.error(`abort of upload ${upload.uploadId}`, e));
  await catalogue(env).forgetUpload(upload.uploadId);
}

export const modelUploads = new Hono<{ Bindings: Env }>();

modelUploads.use("*", requireAdmin);

modelUploads.post("/:modelId/uploads", async (c) => {
  const modelId = checkedId("model", c.req.param("modelId"));
  const { file, sha256 } = await jsonBody(c.req.raw, UploadFile);
  const path = pushedFile(sha256, file);
  if (await isVerified(c.env.BUCKET, modelId, path)) return c.json({ path, complete: true });
  const upload = await c.env.BUCKET.createMultipartUpload(modelKey(modelId, path));
  await catalogue(c.env).recordUpload({ uploadId: upload.uploadId, modelId, file, sha256 });
  return c.json({ path, uploadId: upload.uploadId, partBytes: PART_BYTES, complete: false }, 201);
});

modelUploads.put("/:modelId/uploads/:uploadId/parts/:partNumber", async (c) => {
  const modelId = checkedId("model", c.req.param("modelId"));
  const query = UploadFile.safeParse({ file: c.req.query("file"), sha256: c.req.query("sha256") });
  if (!query.success) {
    const issue = query.error.issues[0];
    throw new ApiError(400, "invalid_request", `query ${issue.path.join(".")}: ${issue.message}`);
  }
  const partNumber = Number(c.req.param("partNumber"));
  if (!Number.isInteger(partNumber) || partNumber < 1 || partNumber > 10_000)
    throw new ApiError(400, "bad_part", "part numbers are 1 to 10000");
  const length = Number(c.req.header("content-length"));
  if (!Number.isInteger(length) || length < 1)
    throw new ApiError(411, "length_required", "a part needs its Content-Length");
  if (length > PART_BYTES) throw new ApiError(413, "too_large", `a part is at most ${PART_BYTES} bytes, got ${length}`);
  const upload = await openUpload(c.env, modelId, c.req.param("uploadId"), query.data);
  // R2 takes a stream of known length: the part goes through without being buffered whole.
  const stream = new FixedLengthStream(length);
  let received = 0;
  const counted = new TransformStream<Uint8Array, Uint8Array>({
    transform: (chunk, out) => ((received += chunk.byteLength), out.enqueue(chunk)),
  });
  const piped = c.req.raw.body ? c.req.raw.body.pipeThrough(counted).pipeTo(stream.writable) : stream.writable.close();
  const key = modelKey(modelId, pushedFile(upload.sha256, upload.file));
  const [sent, stored] = await Promise.allSettled([
    piped,
    c.env.BUCKET.resumeMultipartUpload(key, upload.uploadId).uploadPart(partNumber, stream.readable),
  ]);
  // A short body closes the FixedLengthStream early: R2's side fails, so the count tells which it was.
  if (sent.status === "rejected" || received !== length) {
    await abort(c.env, upload);
    throw new ApiError(
      400,
      "bad_length",
      `part ${partNumber}: the body is not the ${length} bytes its Content-Length says; upload ` +
        `${upload.uploadId} is aborted, start again`,
    );
  }
  if (stored.status === "rejected") {
    if (r2Code(stored.reason) !== NO_SUCH_UPLOAD) throw stored.reason;
    await catalogue(c.env).forgetUpload(upload.uploadId);
    throw unknownUpload(modelId, upload.uploadId);
  }
  return c.json({ partNumber: stored.value.partNumber, etag: stored.value.etag });
});

modelUploads.post("/:modelId/uploads/:uploadId/complete", async (c) => {
  const modelId = checkedId("model", c.req.param("modelId"));
  const { file, sha256, parts } = await jsonBody(c.req.raw, CompleteUpload);
  const numbers = parts.map((p) => p.partNumber);
  const repeated = numbers.find((n, i) => numbers.indexOf(n) !== i);
  if (repeated !== undefined) throw new ApiError(400, "bad_parts", `part ${repeated} is listed twice`);
  const upload = await openUpload(c.env, modelId, c.req.param("uploadId"), { file, sha256 });
  const key = modelKey(modelId, pushedFile(sha256, file));
  try {
    await c.env.BUCKET.resumeMultipartUpload(key, upload.uploadId).complete(
      [...parts].sort((a, b) => a.partNumber - b.partNumber),
    );
  } catch (e) {
    const code = r2Code(e);
    if (code === NO_SUCH_UPLOAD) {
      await catalogue(c.env).forgetUpload(upload.uploadId);
      throw unknownUpload(modelId, upload.uploadId);
    }
    if (code !== INVALID_PART) throw e;
    await abort(c.env, upload);
    throw new ApiError(
      400,
      "bad_parts",
      `parts [${numbers.slice(0, 10).join(", ")}${numbers.length > 10 ? ", ..." : ""}]: not every number ` +
        `and etag is a part of upload ${upload.uploadId} as sent; the upload is aborted, start again`,
    );
  }
  await catalogue(c.env).completeUpload(upload.uploadId);
  const object = await c.env.BUCKET.get(key);
  if (!object) throw new ApiError(409, "upload_missing", `${file}: the completed upload is not in R2`);
  const digest = new crypto.DigestStream("SHA-256");
  await object.body.pipeTo(digest);
  const actual = [...new Uint8Array(await digest.digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
  if (actual !== sha256) {
    await c.env.BUCKET.delete(key);
    await catalogue(c.env).forgetUpload(upload.uploadId);
    throw new ApiError(400, "sha256_mismatch", `${file}: the uploaded bytes have sha256 ${actual}, not ${sha256}`);
  }
  await c.env.BUCKET.put(verifiedMarker(modelId, pushedFile(sha256, file)), sha256);
  return c.json({ path: pushedFile(sha256, file), bytes: object.size, complete: true });
});
