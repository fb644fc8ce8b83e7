/**
 * Model files pushed in parts (src/api/modelUploads.ts) and where they live in R2: beside their
 * model, under their own digest (`models/<id>/<sha256>/<file>`), with a marker once their bytes
 * were hashed against it. The cron sweeps what a day did not turn into a registered model.
 */
import { catalogue } from "../storage/catalogue";
import { modelKey } from "../storage/keys";

/** Where a pushed file lives: beside its model, under its own digest. */
export const pushedFile = (sha256: string, file: string) => `${sha256}/${file}`;

/** A small object written beside a pushed file once its bytes were hashed and matched the digest it is stored under. */
export const verifiedMarker = (modelId: string, path: string) => modelKey(modelId, `${path}.verified`);

/** Whether a pushed file is complete and verified (its path starts with its sha256). */
export async function isVerified(bucket: R2Bucket, modelId: string, path: string): Promise<boolean> {
  return (await bucket.head(verifiedMarker(modelId, path))) !== null;
}

/** An upload or pushed file this old and not named by a registered model is abandoned. */
export const ABANDONED_AFTER_MS = 24 * 3600 * 1000;

/**
 * Aborts multipart uploads started more than a day before `now` and never completed, and deletes
 * completed files no registered model names (with their markers). Returns what it did, for the log.
 */
export async function sweepPushedFiles(env: Env, now = Date.now()): Promise<string[]> {
  const stale = await catalogue(env).claimStaleUploads(new Date(now - ABANDONED_AFTER_MS).toISOString());
  const done: string[] = [];
  for (const u of stale) {
    const path = pushedFile(u.sha256, u.file);
    try {
      if (u.completed) await env.BUCKET.delete([modelKey(u.modelId, path), verifiedMarker(u.modelId, path)]);
      else await env.BUCKET.resumeMultipartUpload(modelKey(u.modelId, path), u.uploadId).abort();
      done.push(`${u.completed ? "deleted unregistered" : "aborted upload of"} models/${u.modelId}/${path}`);
    } catch (e) {
      // Already gone (aborted by its client); R2's own lifecycle ends incomplete uploads in any case.
      console.error(`sweep: models/${u.modelId}/${path} (upload ${u.uploadId})`, e);
    }
  }
  return done;
}
