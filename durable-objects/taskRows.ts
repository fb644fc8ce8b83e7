/**
 * The Catalogue's task rows: a task's adapter and examples metadata as stored (the blobs live in R2),
 * read as TaskRecords. The Catalogue decides when a write is a change and bumps its version.
 */
import type { AdapterUpload, TaskRecord } from "../src/catalogue/task";
import type { Split } from "../src/storage/keys";

interface TaskRow extends Record<string, SqlStorageValue> {
  id: string;
  model_id: string;
  application: string | null;
  language: string | null;
  rank: number;
  bytes: number;
  adapter_sha256: string;
  fewshot: number;
  test: number;
  fewshot_sha256: string;
  test_sha256: string;
  config_sha256: string;
  updated_at: string;
}

/** A write's answer: the catalogue version after it, and whether it found everything already as sent. */
export interface Write {
  readonly catalogueVersion: number;
  readonly unchanged: boolean;
}

const taskRow = (sql: SqlStorage, taskId: string): TaskRow | undefined =>
  sql.exec<TaskRow>("SELECT * FROM tasks WHERE id = ?", taskId).toArray()[0];

/** The task holds this upload: the same files (by digest) for the same model, tagged as the upload tags it. */
export function holdsAdapter(sql: SqlStorage, upload: AdapterUpload): boolean {
  const row = taskRow(sql, upload.taskId);
  if (!row) return false;
  const sameTag = (stored: string | null, sent: string | undefined) => sent === undefined || sent === stored;
  return (
    row.adapter_sha256 === upload.adapterSha256 &&
    row.config_sha256 === upload.configSha256 &&
    row.model_id === upload.modelId &&
    sameTag(row.application, upload.application) &&
    sameTag(row.language, upload.language)
  );
}

const toTask = (r: TaskRow): TaskRecord => ({
  id: r.id,
  modelId: r.model_id,
  ...(r.application === null ? {} : { application: r.application }),
  ...(r.language === null ? {} : { language: r.language }),
  rank: r.rank,
  bytes: r.bytes,
  adapterSha256: r.adapter_sha256,
  examples: { fewshot: r.fewshot, test: r.test },
  examplesSha256: { fewshot: r.fewshot_sha256, test: r.test_sha256 },
  updatedAt: r.updated_at,
});

export function findTask(sql: SqlStorage, taskId: string): TaskRecord | null {
  const row = taskRow(sql, taskId);
  return row ? toTask(row) : null;
}

export function listTasks(sql: SqlStorage): TaskRecord[] {
  return sql.exec<TaskRow>("SELECT * FROM tasks ORDER BY id").toArray().map(toTask);
}

/** Creates the task or replaces its adapter (tags only where the upload gives them); its examples stay. */
export function writeAdapter(sql: SqlStorage, upload: AdapterUpload): void {
  sql.exec(
    `INSERT INTO tasks (id, model_id, application, language, rank, bytes, adapter_sha256, config_sha256, updated_at)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
     ON CONFLICT(id) DO UPDATE SET model_id = excluded.model_id,
       application = coalesce(excluded.application, application), language = coalesce(excluded.language, language),
       rank = excluded.rank, bytes = excluded.bytes, adapter_sha256 = excluded.adapter_sha256,
       config_sha256 = excluded.config_sha256, updated_at = excluded.updated_at`,
    upload.taskId,
    upload.modelId,
    upload.application ?? null,
    upload.language ?? null,
    upload.rank,
    upload.bytes,
    upload.adapterSha256,
    upload.configSha256,
    new Date().toISOString(),
  );
}

export function writeExamples(
  sql: SqlStorage,
  taskId: string,
  split: Split,
  examples: { count: number; sha256: string },
): void {
  const column = split === "fewshot" ? "fewshot" : "test";
  sql.exec(
    `UPDATE tasks SET ${column} = ?, ${column}_sha256 = ?, updated_at = ? WHERE id = ?`,
    examples.count,
    examples.sha256,
    new Date().toISOString(),
    taskId,
  );
}
