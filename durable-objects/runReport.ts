/**
 * The held-out report of a finished run: every task's test split under its result cluster's
 * merged adapter, one queue unit per task (ids `test:<task index>`), stored as each reports.
 * Their leases are the run's ledger's (kind "report"), as the few-shot units' are.
 */
import type { RunConfig } from "../src/runs/config";
import type { HeldOutRow, ReportView } from "../src/runs/status";
import { sendUnits, type EvaluationUnit, type UnitResult } from "../src/runs/unit";
import type { WorkLedger } from "./workLedger";

interface ReportUnitRow extends Record<string, SqlStorageValue> {
  task: number;
  cluster: number;
  merged_sha256: string;
  test_sha256: string;
  exact_match: number | null;
  loss: number | null;
  examples: number | null;
  passes: number | null;
}

/** What the report evaluates: each task's cluster and that cluster's merged adapter, and the test split's digest. */
export interface ReportPlan {
  readonly clusters: readonly { readonly cluster: number; readonly sha256: string }[];
  readonly testSha256: readonly string[];
}

const unitId = (task: number) => `test:${task}`;
const taskOf = (id: string) => Number(id.slice("test:".length));

export class HeldOutReport {
  constructor(
    private readonly sql: SqlStorage,
    private readonly queue: Queue,
    private readonly ledger: WorkLedger,
  ) {}

  get state(): ReportView["state"] | null {
    return this.sql.exec<{ state: ReportView["state"] }>("SELECT state FROM report_state").toArray()[0]?.state ?? null;
  }

  view(config: RunConfig): ReportView | null {
    const head = this.sql
      .exec<{ state: ReportView["state"]; reason: string | null }>("SELECT state, reason FROM report_state")
      .toArray()[0];
    if (!head) return null;
    const units = this.sql.exec<ReportUnitRow>("SELECT * FROM report_units ORDER BY task").toArray();
    const rows = units
      .filter((u) => u.loss !== null)
      .map(
        (u): HeldOutRow => ({
          task: config.tasks[u.task].id,
          cluster: u.cluster,
          exactMatch: u.exact_match!,
          loss: u.loss!,
          examples: u.examples!,
        }),
      )
      .sort((x, y) => (x.task < y.task ? -1 : 1));
    return {
      runId: config.runId,
      state: head.state,
      reason: head.reason,
      evaluated: rows.length,
      total: units.length,
      meanExactMatch: head.state === "done" ? rows.reduce((s, r) => s + r.exactMatch, 0) / rows.length : null,
      forwardPasses: units.reduce((s, u) => s + (u.passes ?? 0), 0),
      tasks: rows,
    };
  }

  /** Creates the units and sends them. A report already running or done is left as it is; a failed one starts over. */
  async start(config: RunConfig, plan: ReportPlan): Promise<void> {
    if (this.state === "running" || this.state === "done") return;
    this.sql.exec("DELETE FROM report_units");
    this.ledger.clear("report");
    this.sql.exec(
      "INSERT OR REPLACE INTO report_state (id, state, requested_at) VALUES (1, 'running', ?)",
      new Date().toISOString(),
    );
    plan.clusters.forEach((c, t) =>
      this.sql.exec(
        "INSERT INTO report_units (task, cluster, merged_sha256, test_sha256) VALUES (?, ?, ?, ?)",
        t,
        c.cluster,
        c.sha256,
        plan.testSha256[t],
      ),
    );
    const ids = plan.clusters.map((_, t) => unitId(t));
    this.ledger.add(
      "report",
      ids.map((id, t) => ({ id, ref: String(t) })),
    );
    await this.send(config, ids);
  }

  /** A unit's scores; a non-finite loss fails the report at once, naming the task. */
  record(config: RunConfig, id: string, result: UnitResult): void {
    if (this.state !== "running") return;
    const task = taskOf(id);
    if (!Number.isFinite(result.loss)) {
      const cluster = this.sql
        .exec<{ cluster: number }>("SELECT cluster FROM report_units WHERE task = ?", task)
        .one().cluster;
      return this.fail(
        `task ${config.tasks[task].id} gave a non-finite held-out loss (${result.loss}) under cluster ` +
          `${cluster}'s merged adapter`,
      );
    }
    if (!this.ledger.complete(id)) return;
    this.sql.exec(
      "UPDATE report_units SET exact_match = ?, loss = ?, examples = ?, passes = ? WHERE task = ?",
      result.exactMatch,
      result.loss,
      result.examples,
      result.forwardPasses,
      task,
    );
    if (this.ledger.open("report") === 0) {
      this.sql.exec("UPDATE report_state SET state = 'done', finished_at = ? WHERE id = 1", new Date().toISOString());
    }
  }

  fail(reason: string): void {
    if (this.state !== "running") return;
    this.sql.exec(
      "UPDATE report_state SET state = 'failed', reason = ?, finished_at = ? WHERE id = 1",
      reason,
      new Date().toISOString(),
    );
  }

  /** Sends units by id, marked sent in the ledger before the messages go. */
  async send(config: RunConfig, ids: readonly string[]): Promise<void> {
    const units = ids.map((id) =>
      this.sql.exec<ReportUnitRow>("SELECT * FROM report_units WHERE task = ?", taskOf(id)).one(),
    );
    this.ledger.markSent(ids);
    await sendUnits(
      this.queue,
      "report",
      units.map(
        (u): EvaluationUnit => ({
          runId: config.runId,
          unitId: unitId(u.task),
          modelId: config.modelId,
          taskId: config.tasks[u.task].id,
          split: "test",
          examplesSha256: u.test_sha256,
          mergedSha256: u.merged_sha256,
          evaluator: config.evaluator ?? "wasm",
        }),
      ),
    );
  }
}
