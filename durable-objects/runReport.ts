/**
 * The held-out report of a finished run: every task's test split under its result cluster's
 * merged adapter, one queue unit per task (ids `test:<task index>`), stored as each reports.
 * The run's alarm re-sends silent units, as it does for the few-shot units.
 */
import type { RunConfig } from "../src/runs/config";
import type { HeldOutRow, ReportView } from "../src/runs/status";
import { sendUnits, type EvaluationUnit, type UnitResult } from "../src/runs/unit";

/** Sends of one held-out unit before the report gives up on it. */
const MAX_SENDS = 5;

interface ReportUnitRow extends Record<string, SqlStorageValue> {
  task: number;
  cluster: number;
  merged_sha256: string;
  test_sha256: string;
  exact_match: number | null;
  loss: number | null;
  examples: number | null;
  passes: number | null;
  attempts: number;
  sent_at: number;
  claimed_at: number | null;
}

/** What the report evaluates: each task's cluster and that cluster's merged adapter, and the test split's digest. */
export interface ReportPlan {
  readonly clusters: readonly { readonly cluster: number; readonly sha256: string }[];
  readonly testSha256: readonly string[];
}

const unitId = (task: number) => `test:${task}`;
const taskOf = (id: string) => Number(id.slice("test:".length));

export class HeldOutReport {
  constructor(private readonly sql: SqlStorage, private readonly queue: Queue) {
    sql.exec(`
      CREATE TABLE IF NOT EXISTS report_state (
        id INTEGER PRIMARY KEY CHECK (id = 1), state TEXT NOT NULL, reason TEXT, requested_at TEXT NOT NULL, finished_at TEXT);
      CREATE TABLE IF NOT EXISTS report_units (
        task INTEGER PRIMARY KEY, cluster INTEGER NOT NULL, merged_sha256 TEXT NOT NULL, test_sha256 TEXT NOT NULL,
        exact_match REAL, loss REAL, examples INTEGER, passes INTEGER,
        attempts INTEGER NOT NULL, sent_at INTEGER NOT NULL, claimed_at INTEGER, error TEXT);`);
  }

  get state(): ReportView["state"] | null {
    return this.sql.exec<{ state: ReportView["state"] }>("SELECT state FROM report_state").toArray()[0]?.state ?? null;
  }

  view(config: RunConfig): ReportView | null {
    const head = this.sql.exec<{ state: ReportView["state"]; reason: string | null }>("SELECT state, reason FROM report_state").toArray()[0];
    if (!head) return null;
    const units = this.sql.exec<ReportUnitRow>("SELECT * FROM report_units ORDER BY task").toArray();
    const rows = units.filter((u) => u.loss !== null).map((u): HeldOutRow => ({
      task: config.tasks[u.task].id, cluster: u.cluster, exactMatch: u.exact_match!, loss: u.loss!, examples: u.examples!,
    })).sort((x, y) => (x.task < y.task ? -1 : 1));
    return {
      runId: config.runId, state: head.state, reason: head.reason, evaluated: rows.length, total: units.length,
      meanExactMatch: head.state === "done" ? rows.reduce((s, r) => s + r.exactMatch, 0) / rows.length : null,
      forwardPasses: units.reduce((s, u) => s + (u.passes ?? 0), 0),
      tasks: rows,
    };
  }

  /** Creates the units and sends them. A report already running or done is left as it is; a failed one starts over. */
  async start(config: RunConfig, plan: ReportPlan): Promise<void> {
    if (this.state === "running" || this.state === "done") return;
    this.sql.exec("DELETE FROM report_units");
    this.sql.exec("INSERT OR REPLACE INTO report_state VALUES (1, 'running', NULL, ?, NULL)", new Date().toISOString());
    plan.clusters.forEach((c, t) => this.sql.exec("INSERT INTO report_units (task, cluster, merged_sha256, test_sha256, attempts, sent_at) VALUES (?, ?, ?, ?, 0, 0)",
      t, c.cluster, c.sha256, plan.testSha256[t]));
    await this.send(config, this.pending());
  }

  claim(id: string): boolean {
    if (this.state !== "running") return false;
    return this.sql.exec("UPDATE report_units SET claimed_at = ? WHERE task = ? AND loss IS NULL AND claimed_at IS NULL", Date.now(), taskOf(id)).rowsWritten > 0;
  }

  /** A unit's scores; a non-finite loss fails the report at once, naming the task. */
  record(config: RunConfig, id: string, result: UnitResult): void {
    if (this.state !== "running") return;
    const task = taskOf(id);
    if (!Number.isFinite(result.loss)) {
      const cluster = this.sql.exec<{ cluster: number }>("SELECT cluster FROM report_units WHERE task = ?", task).one().cluster;
      return this.fail(`task ${config.tasks[task].id} gave a non-finite held-out loss (${result.loss}) under cluster ${cluster}'s merged adapter`);
    }
    this.sql.exec("UPDATE report_units SET exact_match = ?, loss = ?, examples = ?, passes = ?, error = NULL WHERE task = ? AND loss IS NULL",
      result.exactMatch, result.loss, result.examples, result.forwardPasses, task);
    if (!this.sql.exec("SELECT 1 FROM report_units WHERE loss IS NULL LIMIT 1").toArray().length) {
      this.sql.exec("UPDATE report_state SET state = 'done', finished_at = ? WHERE id = 1", new Date().toISOString());
    }
  }

  /** The consumer failed this attempt: the queue retries it, so the claim is released. */
  release(id: string, reason: string): void {
    this.sql.exec("UPDATE report_units SET claimed_at = NULL, error = ? WHERE task = ? AND loss IS NULL", reason.slice(0, 500), taskOf(id));
  }

  /** A unit that cannot succeed (`reason`), or exhausted its queue retries (its last error is the reason). */
  failUnit(config: RunConfig, id: string, attempts: number, reason?: string): void {
    if (this.state !== "running") return;
    const last = this.sql.exec<{ error: string | null }>("SELECT error FROM report_units WHERE task = ?", taskOf(id)).toArray()[0]?.error;
    this.fail(`held-out evaluation of task ${config.tasks[taskOf(id)].id} ${reason === undefined ? `failed after ${attempts} attempts: ${last ?? "no error recorded"}` : `cannot succeed: ${reason}`}`);
  }

  /** Re-sends silent units; returns when to look again, or null when nothing is pending. */
  async watchdog(config: RunConfig): Promise<number | null> {
    if (this.state !== "running") return null;
    const overdue = this.pending().filter((u) => u.sent_at <= Date.now() - config.unitTimeoutMs);
    const exhausted = overdue.find((u) => u.attempts >= MAX_SENDS);
    if (exhausted) {
      this.fail(`held-out evaluation of task ${config.tasks[exhausted.task].id} never reported after ${MAX_SENDS} sends`);
      return null;
    }
    if (overdue.length) await this.send(config, overdue);
    return Date.now() + config.unitTimeoutMs;
  }

  private fail(reason: string): void {
    this.sql.exec("UPDATE report_state SET state = 'failed', reason = ?, finished_at = ? WHERE id = 1", reason, new Date().toISOString());
  }

  private pending(): ReportUnitRow[] {
    return this.sql.exec<ReportUnitRow>("SELECT * FROM report_units WHERE loss IS NULL").toArray();
  }

  /** Marks the units sent (clearing their claims) before the messages go, so no delivery can find them unsent. */
  private async send(config: RunConfig, units: readonly ReportUnitRow[]): Promise<void> {
    const now = Date.now();
    for (const u of units) this.sql.exec("UPDATE report_units SET attempts = attempts + 1, sent_at = ?, claimed_at = NULL WHERE task = ?", now, u.task);
    await sendUnits(this.queue, units.map((u): EvaluationUnit => ({
      runId: config.runId, unitId: unitId(u.task), modelId: config.modelId, taskId: config.tasks[u.task].id,
      split: "test", examplesSha256: u.test_sha256, mergedSha256: u.merged_sha256, evaluator: config.evaluator ?? "wasm",
    })));
  }
}
