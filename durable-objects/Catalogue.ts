/**
 * The catalogue: base models and tasks (adapter and example metadata; the blobs live in R2).
 * One instance ("main") serialises every change; its version increases on each one, so the
 * cron trigger and the releases can tell whether anything changed since they last looked.
 */
import { DurableObject } from "cloudflare:workers";
import type { ModelContract } from "../src/inference/contract";
import type { Split } from "../src/storage/keys";
import type { AdapterUpload, TaskRecord } from "../src/catalogue/task";
import { migrate, type Migration } from "./migrations";
import type { Profile, StoredProfile } from "../src/delivery/profiles";
import { PROFILES_KEY, profilesModel, tasksKey, type TasksModel } from "../src/delivery/readModel";
import { KEYS_KEY, type KeyStatement, type SigningKey } from "../src/delivery/keys";
import * as keys from "./signingKeys";
import { nameTaken, resolveName, type NameTaken } from "../src/models/names";
import * as uploads from "./pushedUploads";
import type { PushedUpload } from "../src/models/pushedUpload";
import type { RunOutcome, RunSummary } from "../src/runs/config";
import * as runIndex from "./runIndex";
import * as taskRows from "./taskRows";
import type { Write } from "./taskRows";

/**
 * Task changes reach the device path's task lists (src/delivery/readModel.ts) at most this late,
 * in one write per model: KV takes one write per second per key, and a seed makes 120 changes in a row.
 */
const TASKS_PUBLISH_DELAY_MS = 1_000;

/**
 * The catalogue's schema, in order (./migrations.ts). 1: as issue 21 left it (IF NOT EXISTS: state
 * from before versioning has that shape); 2: the task change log runs read instead of every task,
 * and the loss and merge caches gone to their own objects (./ClusterCache.ts; entries are
 * recomputed on a miss, so none are carried over); 3: the digest of each task's adapter_config.json,
 * so an identical upload is told from a changed one ('' on tasks stored before: their next upload is
 * a change); 4: the runs index's outcome columns (./runIndex.ts).
 */
const CATALOGUE_MIGRATIONS: readonly Migration[] = [
  (sql) => {
    sql.exec(
      `
      CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
      INSERT OR IGNORE INTO meta (key, value) VALUES ('version', 0);
      CREATE TABLE IF NOT EXISTS models (id TEXT PRIMARY KEY, contract TEXT NOT NULL, updated_at TEXT NOT NULL);
      CREATE TABLE IF NOT EXISTS tasks (
        id TEXT PRIMARY KEY, model_id TEXT NOT NULL REFERENCES models(id),
        application TEXT, language TEXT, rank INTEGER NOT NULL, bytes INTEGER NOT NULL,
        adapter_sha256 TEXT NOT NULL, fewshot INTEGER NOT NULL DEFAULT 0, test INTEGER NOT NULL DEFAULT 0,
        fewshot_sha256 TEXT NOT NULL DEFAULT '', test_sha256 TEXT NOT NULL DEFAULT '',
        updated_at TEXT NOT NULL);
      CREATE TABLE IF NOT EXISTS merges (cluster_key TEXT PRIMARY KEY, sha256 TEXT NOT NULL, bytes INTEGER NOT NULL, ` +
        `rank INTEGER NOT NULL);
      CREATE TABLE IF NOT EXISTS losses (loss_key TEXT PRIMARY KEY, loss REAL NOT NULL, tokens INTEGER NOT NULL, ` +
        `exact_match REAL);
      CREATE TABLE IF NOT EXISTS runs (id TEXT PRIMARY KEY, created_at TEXT NOT NULL, summary TEXT NOT NULL);
      CREATE TABLE IF NOT EXISTS profiles (
        id TEXT PRIMARY KEY, profile TEXT NOT NULL, version INTEGER NOT NULL, updated_at TEXT NOT NULL);`,
    );
    keys.createKeyTable(sql);
    uploads.createUploadTable(sql);
  },
  (sql) =>
    sql.exec(`
    CREATE TABLE task_changes (task_id TEXT PRIMARY KEY, version INTEGER NOT NULL);
    CREATE INDEX task_changes_by_version ON task_changes (version);
    DROP TABLE merges;
    DROP TABLE losses;`),
  (sql) => sql.exec("ALTER TABLE tasks ADD COLUMN config_sha256 TEXT NOT NULL DEFAULT ''"),
  runIndex.addOutcomeColumns,
];

export class Catalogue extends DurableObject<Env> {
  private sql: SqlStorage;
  /** An alarm is set to publish the task lists (in memory: after an eviction the next change sets it again). */
  private tasksPublishSet = false;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    ctx.blockConcurrencyWhile(async () => void migrate(this.sql, CATALOGUE_MIGRATIONS));
  }

  get version(): number {
    return this.sql.exec<{ value: number }>("SELECT value FROM meta WHERE key = 'version'").one().value;
  }

  /** A change to one task: the version it happened at is kept in the change log. */
  private bumpTask(taskId: string): number {
    const version = this.bump();
    this.sql.exec("INSERT OR REPLACE INTO task_changes (task_id, version) VALUES (?, ?)", taskId, version);
    return version;
  }

  private bump(): number {
    const version = this.sql
      .exec<{ value: number }>("UPDATE meta SET value = value + 1 WHERE key = 'version' RETURNING value")
      .one().value;
    if (!this.tasksPublishSet) {
      this.tasksPublishSet = true;
      // Not awaited: the output gate holds this call's answer until the alarm is stored.
      void this.ctx.storage.setAlarm(Date.now() + TASKS_PUBLISH_DELAY_MS);
    }
    return version;
  }

  async alarm(): Promise<void> {
    this.tasksPublishSet = false;
    await this.publishTasks();
  }

  /** Writes each model's task list (id, language, application) to the device path's read model. */
  async publishTasks(): Promise<void> {
    const { tasks, catalogueVersion } = this.list();
    for (const model of this.models()) {
      const value: TasksModel = {
        modelId: model.modelId,
        catalogueVersion,
        publishedAt: new Date().toISOString(),
        tasks: tasks
          .filter((t) => t.modelId === model.modelId)
          .map(({ id, language, application }) => ({ id, language, application })),
      };
      await this.env.DELIVERY.put(tasksKey(model.modelId), JSON.stringify(value));
    }
  }

  /**
   * Registers (or replaces) a model unless one of its names (id, aliases) is another model's;
   * checked here so that two registrations cannot both take a name.
   */
  registerModel(contract: ModelContract): { catalogueVersion: number } | { taken: NameTaken } {
    const taken = this.nameTaken(contract.modelId, contract.aliases ?? []);
    if (taken) return { taken };
    this.sql.exec(
      "INSERT INTO models (id, contract, updated_at) VALUES (?, ?, ?) ON CONFLICT(id) DO UPDATE SET contract " +
        "= excluded.contract, updated_at = excluded.updated_at",
      contract.modelId,
      JSON.stringify(contract),
      new Date().toISOString(),
    );
    uploads.forgetNamedBy(this.sql, contract);
    return { catalogueVersion: this.bump() };
  }

  /** The first of a registration's names another model answers to (src/models/names.ts). */
  nameTaken(modelId: string, aliases: readonly string[]): NameTaken | null {
    return nameTaken(this.models(), modelId, aliases);
  }

  model(modelId: string): ModelContract | null {
    const row = this.sql.exec<{ contract: string }>("SELECT contract FROM models WHERE id = ?", modelId).toArray()[0];
    return row ? (JSON.parse(row.contract) as ModelContract) : null;
  }

  models(): ModelContract[] {
    return this.sql
      .exec<{ contract: string }>("SELECT contract FROM models ORDER BY id")
      .toArray()
      .map((r) => JSON.parse(r.contract) as ModelContract);
  }

  /**
   * The model an adapter's `base_model_name_or_path` names: a registered id, else a declared alias
   * (case-insensitive).
   */
  resolveModel(name: string): ModelContract | null {
    return this.model(name) ?? resolveName(this.models(), name);
  }

  /** A multipart upload of a model file started (pushedUploads.ts). */
  recordUpload(upload: Omit<PushedUpload, "completed" | "startedAt">): void {
    uploads.recordUpload(this.sql, upload);
  }

  upload(uploadId: string): PushedUpload | null {
    return uploads.findUpload(this.sql, uploadId);
  }

  completeUpload(uploadId: string): void {
    uploads.markCompleted(this.sql, uploadId);
  }

  forgetUpload(uploadId: string): void {
    uploads.forgetUpload(this.sql, uploadId);
  }

  /**
   * Uploads started before `before` (ISO time) that no registered model names, removed from the record
   * for the sweep.
   */
  claimStaleUploads(before: string): PushedUpload[] {
    return uploads.claimStale(this.sql, before, (modelId) => this.model(modelId));
  }

  /**
   * The catalogue version when the task already holds exactly this upload (same files by digest, same
   * model, and the application and language it names), else null: asked before the blobs are written.
   */
  unchangedAdapter(upload: AdapterUpload): number | null {
    return taskRows.holdsAdapter(this.sql, upload) ? this.version : null;
  }

  /**
   * Creates the task or replaces its adapter; its examples stay. An upload the task already holds
   * changes nothing (a concurrent identical upload got there first), and keeps the version.
   */
  putAdapter(upload: AdapterUpload): Write {
    if (taskRows.holdsAdapter(this.sql, upload)) return { catalogueVersion: this.version, unchanged: true };
    taskRows.writeAdapter(this.sql, upload);
    return { catalogueVersion: this.bumpTask(upload.taskId), unchanged: false };
  }

  /**
   * Records a split's example count and digest; the same digest as stored changes nothing and keeps
   * the version. Null when the task does not exist.
   */
  putExamples(taskId: string, split: Split, examples: { count: number; sha256: string }): Write | null {
    const task = this.task(taskId);
    if (!task) return null;
    if (task.examplesSha256[split] === examples.sha256) return { catalogueVersion: this.version, unchanged: true };
    taskRows.writeExamples(this.sql, taskId, split, examples);
    return { catalogueVersion: this.bumpTask(taskId), unchanged: false };
  }

  task(taskId: string): TaskRecord | null {
    return taskRows.findTask(this.sql, taskId);
  }

  list(): { tasks: TaskRecord[]; catalogueVersion: number } {
    const tasks = taskRows.listTasks(this.sql);
    return { tasks, catalogueVersion: this.version };
  }

  /** Returns the new version, or null when there was no such task. */
  deleteTask(taskId: string): number | null {
    return this.sql.exec("DELETE FROM tasks WHERE id = ?", taskId).rowsWritten ? this.bumpTask(taskId) : null;
  }

  /**
   * What changed after `version`: the ids of tasks put or deleted since, and the current records of
   * those still there. A run checks its pinned digests with this: the size of the change, not of the catalogue.
   */
  changesSince(version: number): { catalogueVersion: number; changed: string[]; tasks: TaskRecord[] } {
    const changed = this.sql
      .exec<{ task_id: string }>("SELECT task_id FROM task_changes WHERE version > ?", version)
      .toArray()
      .map((r) => r.task_id);
    const tasks = changed.map((id) => this.task(id)).filter((t): t is TaskRecord => t !== null);
    return { catalogueVersion: this.version, changed, tasks };
  }

  /** Creates or replaces a device profile; its own version increases with each change. */
  async putProfile(id: string, profile: Profile): Promise<StoredProfile> {
    const row = this.sql
      .exec<{ version: number; updated_at: string }>(
        `INSERT INTO profiles (id, profile, version, updated_at) VALUES (?, ?, 1, ?) ON CONFLICT(id) DO UPDATE SET
         profile = excluded.profile, version = version + 1, updated_at = excluded.updated_at RETURNING version, ` +
          `updated_at`,
        id,
        JSON.stringify(profile),
        new Date().toISOString(),
      )
      .one();
    await this.publishProfiles();
    return { ...profile, id, version: row.version, updatedAt: row.updated_at };
  }

  /** Writes every profile's match rules to the device path's read model (src/delivery/readModel.ts). */
  async publishProfiles(): Promise<void> {
    await this.env.DELIVERY.put(PROFILES_KEY, JSON.stringify(profilesModel(this.profiles())));
  }

  profiles(): StoredProfile[] {
    return this.sql
      .exec<{ id: string; profile: string; version: number; updated_at: string }>("SELECT * FROM profiles ORDER BY id")
      .toArray()
      .map((r) => ({ ...(JSON.parse(r.profile) as Profile), id: r.id, version: r.version, updatedAt: r.updated_at }));
  }

  /** Removes a device profile; false when there was none. Its releases are the Releases object's to retire. */
  async deleteProfile(id: string): Promise<boolean> {
    const deleted = this.sql.exec("DELETE FROM profiles WHERE id = ?", id).rowsWritten > 0;
    await this.publishProfiles();
    return deleted;
  }

  /** The signing keys, current first (docs/decisions/0009-key-rotation.md). */
  signingKeys(): SigningKey[] {
    return keys.listKeys(this.sql);
  }

  /** The current key's id; `first` (the Worker's MANIFEST_SIGNING_KEY) becomes current on an empty registry. */
  async currentKey(first: { keyId: string; publicKey: string }): Promise<string> {
    const empty = keys.listKeys(this.sql).length === 0;
    const current = keys.currentKey(this.sql, first);
    if (empty) await this.publishKeys();
    return current;
  }

  async addNextKey(key: { keyId: string; publicKey: string; certificate: KeyStatement }): Promise<keys.KeyChange> {
    return this.published(keys.addNext(this.sql, key));
  }

  async switchKeys(): Promise<keys.KeyChange> {
    return this.published(keys.switchToNext(this.sql));
  }

  async retireKey(keyId: string, retirement: KeyStatement): Promise<keys.KeyChange> {
    return this.published(keys.retire(this.sql, keyId, retirement));
  }

  /** Writes the key list to the edge, where GET /v1/keys reads it. */
  async publishKeys(): Promise<void> {
    await this.env.DELIVERY.put(KEYS_KEY, JSON.stringify({ keys: keys.listKeys(this.sql) }));
  }

  private async published(change: keys.KeyChange): Promise<keys.KeyChange> {
    if ("keys" in change) await this.publishKeys();
    return change;
  }

  /** The index of clustering runs (./runIndex.ts; their state lives in each ClusterRun object). */
  recordRun(run: runIndex.RunRequestSummary): void {
    runIndex.recordRun(this.sql, run);
  }

  /** How a run went (src/workflows/runIndex.ts); false when the index has no such run. */
  recordRunOutcome(runId: string, outcome: RunOutcome): boolean {
    return runIndex.recordOutcome(this.sql, runId, outcome);
  }

  runs(limit: number): RunSummary[] {
    return runIndex.listRuns(this.sql, limit);
  }
}
