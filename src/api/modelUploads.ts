/**
 * Model files too large for one request, as R2 multipart uploads: the CLI (`npx d2c-edge model
 * push`) creates an upload per file, sends its parts, completes it, then registers the model with
 * a model.json naming the files. A file lands under a directory named by its sha256
 * (`models/<id>/<sha256>/<file>`), so a registered model's files are never overwritten, and a
 * completed file is hashed against that digest before anything may name it.
 */
import { Hono } from "hono";
import { z } from "zod";
import { modelKey } from "../storage/keys";
import { requireAdmin } from "./auth";
import { ApiError } from "./errors";
import { checkedId, jsonBody } from "./validate";

/** R2 parts are 5 MiB to 5 GiB (all but the last of one size); the Worker's request limit caps them lower. */
export const PART_BYTES = 64 << 20;
const FILE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}\.(onnx|onnx_data|data)$/;
const SHA256 = /^[0-9a-f]{64}$/;

export const UploadFile = z.object({ file: z.string().regex(FILE), sha256: z.string().regex(SHA256) });
export const CompleteUpload = UploadFile.extend({ parts: z.array(z.object({ partNumber: z.number().int().min(1), etag: z.string().min(1) })).min(1).max(10_000) });

/** Where a pushed file lives: beside its model, under its own digest. */
export const pushedFile = (sha256: string, file: string) => `${sha256}/${file}`;

/** A small object written beside a pushed file once its bytes were hashed and matched the digest it is stored under. */
const verifiedMarker = (modelId: string, path: string) => modelKey(modelId, `${path}.verified`);

/** Whether a pushed file is complete and verified (its path starts with its sha256). */
export async function isVerified(bucket: R2Bucket, modelId: string, path: string): Promise<boolean> {
  return (await bucket.head(verifiedMarker(modelId, path))) !== null;
}

export const modelUploads = new Hono<{ Bindings: Env }>();

modelUploads.use("*", requireAdmin);

modelUploads.post("/:modelId/uploads", async (c) => {
  const modelId = checkedId("model", c.req.param("modelId"));
  const { file, sha256 } = await jsonBody(c.req.raw, UploadFile);
  const path = pushedFile(sha256, file);
  if (await isVerified(c.env.BUCKET, modelId, path)) return c.json({ path, complete: true });
  const upload = await c.env.BUCKET.createMultipartUpload(modelKey(modelId, path));
  return c.json({ path, uploadId: upload.uploadId, partBytes: PART_BYTES, complete: false }, 201);
});

modelUploads.put("/:modelId/uploads/:uploadId/parts/:partNumber", async (c) => {
  const modelId = checkedId("model", c.req.param("modelId"));
  const { file, sha256 } = UploadFile.parse({ file: c.req.query("file"), sha256: c.req.query("sha256") });
  const partNumber = Number(c.req.param("partNumber"));
  if (!Number.isInteger(partNumber) || partNumber < 1 || partNumber > 10_000) throw new ApiError(400, "bad_part", "part numbers are 1 to 10000");
  const length = Number(c.req.header("content-length"));
  if (!Number.isInteger(length) || length < 1) throw new ApiError(411, "length_required", "a part needs its Content-Length");
  if (length > PART_BYTES) throw new ApiError(413, "too_large", `a part is at most ${PART_BYTES} bytes, got ${length}`);
  // R2 takes a stream of known length: the part goes through without being buffered whole.
  const stream = new FixedLengthStream(length);
  const piped = c.req.raw.body!.pipeTo(stream.writable);
  const upload = c.env.BUCKET.resumeMultipartUpload(modelKey(modelId, pushedFile(sha256, file)), c.req.param("uploadId"));
  const [part] = await Promise.all([upload.uploadPart(partNumber, stream.readable), piped]);
  return c.json({ partNumber: part.partNumber, etag: part.etag });
});

modelUploads.post("/:modelId/uploads/:uploadId/complete", async (c) => {
  const modelId = checkedId("model", c.req.param("modelId"));
  const { file, sha256, parts } = await jsonBody(c.req.raw, CompleteUpload);
  const key = modelKey(modelId, pushedFile(sha256, file));
  await c.env.BUCKET.resumeMultipartUpload(key, c.req.param("uploadId")).complete(parts);
  const object = await c.env.BUCKET.get(key);
  if (!object) throw new ApiError(409, "upload_missing", `${file}: the completed upload is not in R2`);
  const digest = new crypto.DigestStream("SHA-256");
  await object.body.pipeTo(digest);
  const actual = [...new Uint8Array(await digest.digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
  if (actual !== sha256) {
    await c.env.BUCKET.delete(key);
    throw new ApiError(400, "sha256_mismatch", `${file}: the uploaded bytes have sha256 ${actual}, not ${sha256}`);
  }
  await c.env.BUCKET.put(verifiedMarker(modelId, pushedFile(sha256, file)), sha256);
  return c.json({ path: pushedFile(sha256, file), bytes: object.size, complete: true });
});
