/**
 * The Catalogue's record of model files pushed in parts (src/api/modelUploads.ts): R2 bindings
 * cannot list multipart uploads, so every upload started is written here, marked when completed,
 * and forgotten once a registered model names its file. What is left after a day is an abandoned
 * upload or a file nobody registered; the cron sweeps it (src/models/pushedFiles.ts).
 */
import type { PushedUpload } from "../src/models/pushedUpload";
import type { ModelContract } from "../src/inference/contract";

interface UploadRow extends Record<string, SqlStorageValue> {
  upload_id: string;
  model_id: string;
  file: string;
  sha256: string;
  completed: number;
  started_at: string;
}

const toUpload = (r: UploadRow): PushedUpload => ({
  uploadId: r.upload_id,
  modelId: r.model_id,
  file: r.file,
  sha256: r.sha256,
  completed: r.completed === 1,
  startedAt: r.started_at,
});

export function createUploadTable(sql: SqlStorage): void {
  sql.exec(`CREATE TABLE IF NOT EXISTS model_uploads (
    upload_id TEXT PRIMARY KEY, model_id TEXT NOT NULL, file TEXT NOT NULL, sha256 TEXT NOT NULL,
    completed INTEGER NOT NULL DEFAULT 0, started_at TEXT NOT NULL)`);
}

export function recordUpload(sql: SqlStorage, u: Omit<PushedUpload, "completed" | "startedAt">): void {
  sql.exec(
    "INSERT INTO model_uploads (upload_id, model_id, file, sha256, completed, started_at) VALUES (?, ?, ?, ?, 0, ?)",
    u.uploadId,
    u.modelId,
    u.file,
    u.sha256,
    new Date().toISOString(),
  );
}

export function findUpload(sql: SqlStorage, uploadId: string): PushedUpload | null {
  const row = sql.exec<UploadRow>("SELECT * FROM model_uploads WHERE upload_id = ?", uploadId).toArray()[0];
  return row ? toUpload(row) : null;
}

export function markCompleted(sql: SqlStorage, uploadId: string): void {
  sql.exec("UPDATE model_uploads SET completed = 1 WHERE upload_id = ?", uploadId);
}

export function forgetUpload(sql: SqlStorage, uploadId: string): void {
  sql.exec("DELETE FROM model_uploads WHERE upload_id = ?", uploadId);
}

/** The files (`<sha256>/<file>`, as pushed) a model's contract names. */
const namedFiles = (c: ModelContract) => [
  c.onnx.file,
  ...(c.onnx.externalData ?? []).map((f) => `${f.sha256}/${f.file}`),
];

/** A registered model owns the files it names: their records go. */
export function forgetNamedBy(sql: SqlStorage, contract: ModelContract): void {
  for (const path of namedFiles(contract)) {
    const slash = path.indexOf("/");
    sql.exec(
      "DELETE FROM model_uploads WHERE model_id = ? AND sha256 = ? AND file = ?",
      contract.modelId,
      path.slice(0, slash),
      path.slice(slash + 1),
    );
  }
}

/**
 * Uploads started before `before`, removed from the record for the caller to abort or delete; a
 * completed file the model's current contract names is kept (its record only is dropped).
 */
export function claimStale(
  sql: SqlStorage,
  before: string,
  contractOf: (modelId: string) => ModelContract | null,
): PushedUpload[] {
  const stale = sql
    .exec<UploadRow>("SELECT * FROM model_uploads WHERE started_at < ? ORDER BY started_at", before)
    .toArray()
    .map(toUpload);
  for (const u of stale) forgetUpload(sql, u.uploadId);
  return stale.filter((u) => {
    const contract = u.completed ? contractOf(u.modelId) : null;
    return !contract || !namedFiles(contract).includes(`${u.sha256}/${u.file}`);
  });
}
