/**
 * One clustering run (D2C or a baseline) as a state machine advanced by alarms:
 * init -> merge -> evaluate -> reassign -> merge -> ... -> done | failed | cancelled.
 * Its queued work (few-shot units, held-out units, similarity blocks, tuning candidates) is leased
 * through one ledger (./workLedger.ts): consumers `claim`, then report by kind (`reportUnits`,
 * `reportSimilarity`, `reportCandidate`), or `workError` / `workFailed`; the alarm doubles as the
 * watchdog that re-sends what never reported.
 *
 * A task deleted or replaced in the catalogue during a run fails the run, naming the task: the
 * run compares its pinned digests (adapter, few-shot examples) with the catalogue at every
 * alarm-driven phase and whenever a unit fails, so no per-isolate cache of blobs can carry a
 * run to "done" over a task that no longer exists. Deletes are not refused while runs use a task.
 */
import { DurableObject } from "cloudflare:workers";
import { changedTasks } from "../src/runs/pinned";
import { DomainError } from "../src/errors";
import { clustersOf } from "../src/clustering/assignment";
import { restartSeed, startState } from "../src/clustering/policy";
import type { RunConfig } from "../src/runs/config";
import { initialAssignment, startsFromKMeans } from "../src/runs/initial";
import type { CandidateResult } from "../src/runs/tuneCandidates";
import { MergeTuning } from "./runTuning";
import type { TuningView } from "./runStatus";
import { similarityBlocks } from "../src/runs/similarityBlocks";
import { kmeans } from "../src/clustering/kmeans";
import { clusterKey } from "../src/runs/keys";
import { buildMergedAdapter } from "../src/runs/merging";
import { buildPartAdapters, partKey } from "../src/runs/partAdapters";
import { partConfigName } from "../src/budget/candidates";
import type { LossPage, ReportView, RunStatus } from "../src/runs/status";
import type { UnitMessage, UnitReport } from "../src/runs/unit";
import type { ReportFinished, RunFinished, WorkKind } from "../src/queueMessages";
import { catalogue } from "../src/storage/catalogue";
import type { CachedMerge } from "../src/runs/cached";
import * as cache from "../src/storage/clusterCache";
import { RunListeners, storedEvents, type RunEvent } from "./runEvents";
import { HeldOutReport } from "./runReport";
import { SimilarityBlocks } from "./runSimilarity";
import { keptIterationOf, policySettings, reassignStep } from "./runPolicy";
import { partAllocation } from "./runParts";
import { lossPage, runStatus } from "./runStatus";
import * as tables from "./runTables";
import type { RunPhase, RunState } from "./runTables";
import { nonFiniteLossReason, plannedUnits, sendFewShotUnits } from "./runUnits";
import { MAX_SENDS, WorkLedger, type WorkItem } from "./workLedger";
/** Alarm attempts of a phase before a persistent error fails the run (transient R2 errors pass). */
const PHASE_ATTEMPTS = 3;

export class ClusterRun extends DurableObject<Env> {
  private sql: SqlStorage;
  private listeners = new RunListeners();
  private ledger: WorkLedger;
  private report!: HeldOutReport;
  private blocks!: SimilarityBlocks;
  private tuning!: MergeTuning;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    this.ledger = new WorkLedger(this.sql);
    ctx.blockConcurrencyWhile(async () => {
      tables.createRunTables(this.sql);
      this.report = new HeldOutReport(this.sql, env.EVALUATIONS, this.ledger);
      this.blocks = new SimilarityBlocks(this.sql, env.EVALUATIONS, this.ledger);
      this.tuning = new MergeTuning(this.sql, env.EVALUATIONS, this.ledger);
    });
  }

  /** Starts the run; a second start of the same run is refused. */
  async start(config: RunConfig): Promise<void> {
    if (tables.readRun(this.sql)) throw new Error(`run ${config.runId} already exists`);
    const now = new Date().toISOString();
    this.sql.exec(
      "INSERT INTO run (id, config, state, phase, iteration, created_at, updated_at, messages) " +
        "VALUES (1, ?, 'running', 'init', 0, ?, ?, 0)",
      JSON.stringify(config),
      now,
      now,
    );
    this.emit("started", { method: config.method, k: config.k, tasks: config.tasks.length });
    await this.wake();
  }

  /**
   * The run's request as pinned when it started (task digests included): what a release checks against the catalogue.
   */
  config(): RunConfig | null {
    return tables.readRun(this.sql)?.parsed ?? null;
  }

  status(): RunStatus | null {
    const run = tables.readRun(this.sql);
    return (
      run && runStatus(this.sql, run, this.report.view(run.parsed), this.blocks.usage(), this.tuningView(run.parsed))
    );
  }

  /** A page of tasks of an iteration's loss matrix; null when the run or the iteration does not exist. */
  losses(iteration: number, offset: number, limit: number): LossPage | null {
    const run = tables.readRun(this.sql);
    return run && lossPage(this.sql, run, iteration, offset, limit);
  }

  /**
   * The consumer asks before it does a message's work: the ids of `kind` it may do, each open item
   * once per send. A duplicate delivery, or work of a run (or report) that stopped, is dropped
   * before any forward pass.
   */
  claim(kind: WorkKind, ids: readonly string[]): string[] {
    const accepting =
      kind === "report" ? this.report.state === "running" : tables.readRun(this.sql)?.state === "running";
    return accepting ? ids.filter((id) => this.ledger.claim(id)) : [];
  }

  /**
   * A message's scores from the queue consumer. A duplicate delivery changes nothing; a non-finite
   * few-shot loss fails the run at once. One progress event per message, not per unit.
   */
  async reportUnits(kind: UnitMessage["kind"], reports: readonly UnitReport[]): Promise<void> {
    const run = tables.readRun(this.sql);
    if (!run) return;
    if (kind === "report") {
      const going = this.report.state === "running";
      for (const { unitId, result } of reports) this.report.record(run.parsed, unitId, result);
      if (going && this.report.state === "done")
        await this.announce({ kind: "report-finished", runId: run.parsed.runId });
      return;
    }
    if (run.state !== "running") return;
    let counts: ReturnType<typeof tables.recordUnitLoss> = null;
    for (const { unitId, result } of reports) {
      if (!Number.isFinite(result.loss)) {
        return this.finish("failed", nonFiniteLossReason(this.sql, run.parsed, unitId, result.loss));
      }
      if (this.ledger.complete(unitId)) counts = tables.recordUnitLoss(this.sql, unitId, result) ?? counts;
    }
    if (!counts) return;
    const progress = { iteration: counts.iteration, evaluated: counts.total - counts.pending, units: counts.total };
    this.listeners.push({ type: "progress", data: progress });
    if (counts.pending === 0 && counts.iteration === run.iteration && run.phase === "evaluate") await this.wake();
  }

  /** A block of the task-vector Gram matrix (`multiplyAdds`: the work it took); the last one missing wakes the run. */
  async reportSimilarity(blockId: string, dots: Float64Array, multiplyAdds: number): Promise<void> {
    const run = tables.readRun(this.sql);
    if (run?.state !== "running") return;
    if (this.blocks.record(blockId, dots, multiplyAdds) && run.phase === "similarity") await this.wake();
  }

  /**
   * A tuning candidate's answer (src/runs/tuneCandidates.ts): the tuners go on, and the run ends when the last is done.
   */
  async reportCandidate(candidateId: string, result: CandidateResult): Promise<void> {
    const run = tables.readRun(this.sql);
    if (run?.state !== "running" || run.phase !== "tune") return;
    if (result.losses.some((l) => !l.every(Number.isFinite))) {
      return this.finish("failed", `${this.tuning.describe(run.parsed, candidateId)} gave a non-finite few-shot loss`);
    }
    await this.tuning.record(run.parsed, candidateId, result);
    if (this.tuning.done()) await this.wake();
  }

  /**
   * The consumer's error for one attempt, kept as the reason should the item end in the dead-letter
   * queue; the claim is released for the queue's retry. A task deleted or replaced meanwhile (its
   * blobs gone) fails the run now, naming it, instead of after every retry.
   */
  async workError(id: string, reason: string): Promise<void> {
    this.ledger.release(id, reason);
    if (this.ledger.item(id)?.kind !== "report") await this.failIfTasksChanged();
  }

  /**
   * An item cannot succeed: it exhausted its queue retries (`attempts`), or its work failed in a
   * way no retry changes (`reason`, e.g. an adapter the reader refuses).
   */
  async workFailed(id: string, attempts: number, reason?: string): Promise<void> {
    const run = tables.readRun(this.sql);
    const item = this.ledger.item(id);
    if (!run || !item || item.done_at !== null) return;
    if (item.kind !== "report" && (run.state !== "running" || (await this.failIfTasksChanged()))) return;
    await this.giveUp(
      run.parsed,
      item,
      reason === undefined
        ? `failed after ${attempts} attempts: ${item.error ?? "no error recorded"}`
        : `cannot succeed: ${reason}`,
    );
  }

  /** The run, or for a held-out unit its report, fails on an item it gives up on, naming the item. */
  private async giveUp(config: RunConfig, item: WorkItem, why: string): Promise<void> {
    if (item.kind === "report")
      return this.report.fail(`held-out evaluation of task ${config.tasks[Number(item.ref)].id} ${why}`);
    await this.finish("failed", `${this.subject(config, item)} ${why}`);
  }

  private subject(config: RunConfig, item: WorkItem): string {
    switch (item.kind) {
      case "similarity":
        return `task similarity block ${item.id}`;
      case "candidate":
        return this.tuning.describe(config, item.id);
      default: {
        const unit = this.sql.exec<tables.UnitRow>("SELECT task, cluster FROM units WHERE id = ?", item.ref).one();
        return `evaluation of task ${config.tasks[unit.task].id} under cluster ${unit.cluster}`;
      }
    }
  }

  /**
   * The watchdog, for every kind: re-sends the kind's items that never reported and returns them;
   * null when one was sent MAX_SENDS times already, and the run (or its report) gave up on it.
   */
  private async resendOverdue(config: RunConfig, kind: WorkKind): Promise<WorkItem[] | null> {
    const { overdue, exhausted } = this.ledger.overdue(kind, config.unitTimeoutMs);
    if (exhausted) {
      await this.giveUp(config, exhausted, `never reported after ${MAX_SENDS} sends`);
      return null;
    }
    const ids = overdue.map((i) => i.id);
    if (ids.length === 0) return overdue;
    if (kind === "unit") await sendFewShotUnits(this.env.EVALUATIONS, this.sql, this.ledger, config, ids);
    else if (kind === "report") await this.report.send(config, ids);
    else if (kind === "similarity") await this.blocks.send(config, ids);
    else await this.tuning.send(config, ids);
    return overdue;
  }

  /** Cancels a running run; an ended one stays as it ended (its report, if any, goes on): `cancelled` false. */
  async cancel(): Promise<{ cancelled: boolean; status: RunStatus | null }> {
    const running = tables.readRun(this.sql)?.state === "running";
    if (running) await this.finish("cancelled", "cancelled by request");
    return { cancelled: running, status: this.status() };
  }

  /**
   * Starts the held-out report of a done run over the queue (`testSha256`: each task's test split
   * digest, by task id, as the catalogue has it now); a report already running or done stays.
   */
  async requestReport(testSha256: Record<string, string>): Promise<ReportView> {
    const run = tables.readRun(this.sql);
    const status = run && runStatus(this.sql, run, null, this.blocks.usage(), this.tuningView(run.parsed));
    if (!run || !status?.result)
      throw new DomainError(
        "conflict",
        "run_not_done",
        `run ${run?.parsed.runId} is ${run?.state}; a report needs a finished run`,
      );
    const result = status.result;
    await this.report.start(run.parsed, {
      clusters: status.tasks.map((id) => ({
        cluster: result.assignment[id],
        sha256: result.clusters[result.assignment[id]].sha256,
      })),
      testSha256: status.tasks.map((id) => testSha256[id]),
    });
    await this.ctx.storage.setAlarm(Date.now() + run.parsed.unitTimeoutMs);
    return this.report.view(run.parsed)!;
  }

  /** Server-sent events: GET only; the Worker forwards /v1/runs/:id/events here. */
  async fetch(request: Request): Promise<Response> {
    const after = Number(request.headers.get("last-event-id") ?? "0") || 0;
    return this.listeners.open(storedEvents(this.sql, after), tables.readRun(this.sql)?.state !== "running");
  }

  async alarm(info?: AlarmInvocationInfo): Promise<void> {
    const run = tables.readRun(this.sql);
    if (run?.state === "done") {
      if (this.report.state !== "running") return;
      await this.resendOverdue(run.parsed, "report");
      if (this.report.state === "running") await this.ctx.storage.setAlarm(Date.now() + run.parsed.unitTimeoutMs);
      return;
    }
    if (run?.state !== "running") return;
    try {
      if (await this.failIfTasksChanged()) return;
      await this.advanceFrom(run.phase, run.parsed, run.iteration);
    } catch (e) {
      const reason = e instanceof Error ? e.message : String(e);
      // A domain error (an unusable adapter, a non-finite merge) is the same on every attempt.
      // the runtime retries the alarm with backoff
      if (!(e instanceof DomainError) && (info?.retryCount ?? 0) + 1 < PHASE_ATTEMPTS) throw e;
      await this.finish("failed", `${run.phase} of iteration ${run.iteration}: ${reason}`);
    }
  }

  private advanceFrom(phase: RunPhase, config: RunConfig, iteration: number): Promise<void> {
    switch (phase) {
      case "init":
        return this.init(config);
      case "similarity":
        return this.similarity(config);
      case "merge":
        return this.merge(config, iteration);
      case "evaluate":
        return this.evaluate(config, iteration);
      case "reassign":
        return this.reassign(config, iteration);
      case "tune":
        return this.tune(config);
    }
  }

  /** Waits for the tuners (re-sending silent candidates); done, the run is. */
  private async tune(config: RunConfig): Promise<void> {
    const best = tables.readRun(this.sql)!.best_iteration!;
    if (!this.tuning.started())
      await this.tuning.start(config, clustersOf(tables.assignmentOf(this.sql, best), config.k));
    if (this.tuning.done()) return this.finish("done", null, best);
    if (await this.resendOverdue(config, "candidate")) await this.wake(Date.now() + config.unitTimeoutMs);
  }

  private tuningView(config: RunConfig): TuningView {
    return { clusters: config.tune ? this.tuning.results() : new Map(), usage: this.tuning.usage() };
  }

  private async init(config: RunConfig): Promise<void> {
    // A large k-means start is computed in blocks on the queue (src/runs/similarityBlocks.ts).
    if (startsFromKMeans(config) && similarityBlocks(config.tasks.length).length > 0) {
      const blocks = await this.blocks.start(config);
      this.commit(() => {
        this.advance("similarity");
        this.emit("similarity", { blocks });
      });
      return this.wake();
    }
    const { assignment, similarity } = await initialAssignment(this.env.BUCKET, config);
    await this.begin(config, assignment, similarity);
  }

  /** Waits for the Gram matrix's blocks (re-sending silent ones), then starts from k-means on it. */
  private async similarity(config: RunConfig): Promise<void> {
    if (this.blocks.pending() > 0) {
      if (await this.resendOverdue(config, "similarity")) await this.wake(Date.now() + config.unitTimeoutMs);
      return;
    }
    const similarity = this.blocks.similarity(config);
    await this.begin(config, kmeans(similarity, config.tasks.length, config.k, config.seed), similarity);
  }

  private async begin(config: RunConfig, assignment: number[], similarity: Float64Array | null): Promise<void> {
    // The policy's start: a pruned first iteration is ranked by task similarity; without (a warm start) it is full.
    const full = config.method !== "d2c" || startState(policySettings(config), assignment, similarity !== null).full;
    const restarts = config.restarts ?? 1;
    this.commit(() => {
      // Kept for the pruned ranking's fallback and for the later restarts' k-means.
      const kept = similarity && config.method === "d2c" && (config.prune || restarts > 1);
      if (kept) tables.storeSimilarity(this.sql, similarity);
      if (restarts > 1) tables.insertRestart(this.sql, { restart: 0, firstIteration: 0, seed: config.seed });
      tables.insertIteration(this.sql, 0, assignment, new Date().toISOString(), full);
      this.advance("merge");
      this.emit("iteration", { iteration: 0, assignment });
    });
    await this.wake();
  }

  private async merge(config: RunConfig, iteration: number): Promise<void> {
    if (config.parts) return this.buildParts(config, iteration);
    const clusters = clustersOf(tables.assignmentOf(this.sql, iteration), config.k);
    const members = clusters.map((tasks) => tasks.map((t) => config.tasks[t]));
    const keys = await Promise.all(members.map((m) => clusterKey(config.modelId, m, config.merge)));
    const known: Record<string, CachedMerge> = config.cache === false ? {} : await cache.cachedMerges(this.env, keys);
    const merges: CachedMerge[] = [];
    for (const [c, key] of keys.entries()) {
      let merged = known[key];
      if (!merged) {
        merged = await buildMergedAdapter(this.env.BUCKET, config.loraTargets, members[c], config.merge);
        await cache.recordMerge(this.env, key, merged);
      }
      merges.push(merged);
    }
    this.commit(() => {
      merges.forEach((m, c) => tables.insertCluster(this.sql, iteration, c, clusters[c], keys[c], m));
      this.advance("evaluate");
      // Sized by K: member counts, not task lists (the summary and /losses name the tasks).
      this.emit("merged", {
        iteration,
        clusters: merges.map((m, c) => ({ size: members[c].length, sha256: m.sha256, bytes: m.bytes })),
      });
    });
    await this.wake();
  }

  /** An alloc run's iteration: every task alone, as the part configuration of this iteration (0: none). */
  private async buildParts(config: RunConfig, iteration: number): Promise<void> {
    const part = iteration === 0 ? null : config.parts!.configs[iteration - 1];
    const built = await buildPartAdapters(this.env.BUCKET, config.loraTargets, config.tasks, part);
    this.commit(() => {
      built.forEach((m, t) =>
        tables.insertCluster(this.sql, iteration, t, [t], partKey(config.modelId, part, config.tasks[t]), m),
      );
      this.advance("evaluate");
      this.emit("merged", { iteration, part: partConfigName(part), bytes: built.reduce((n, m) => n + m.bytes, 0) });
    });
    await this.wake();
  }

  /** The knapsack over every task's measured parts (src/budget/allocate.ts); the run is done. */
  private async allocateParts(config: RunConfig): Promise<void> {
    const { choices, ...allocated } = partAllocation(this.sql, config);
    this.commit(() => {
      choices.forEach((iteration, t) =>
        this.sql.exec("INSERT OR REPLACE INTO parts (task, iteration) VALUES (?, ?)", t, iteration),
      );
      this.emit("allocated", allocated);
    });
    await this.finish("done", null, 0);
  }

  /** First visit: create the units (cached losses filled in) and send the rest. Later visits: watchdog. */
  private async evaluate(config: RunConfig, iteration: number): Promise<void> {
    if (tables.unitCounts(this.sql, iteration) === null) {
      this.commit(await plannedUnits(this.env, this.sql, this.ledger, config, iteration));
    }
    if ((tables.unitCounts(this.sql, iteration)?.pending ?? 0) === 0) {
      this.commit(() => this.advance("reassign"));
      return this.wake();
    }
    const resent = await this.resendOverdue(config, "unit");
    if (!resent) return;
    if (resent.some((u) => u.attempts > 0)) this.emit("resent", { iteration, units: resent.length });
    await this.wake(Date.now() + config.unitTimeoutMs);
  }

  private async reassign(config: RunConfig, iteration: number): Promise<void> {
    const units = tables.unitsOfIteration(this.sql, iteration);
    await cache.recordLosses(
      this.env,
      units
        .filter((u) => u.source === "queue")
        .map((u) => ({ key: u.loss_key, loss: u.loss!, tokens: u.tokens!, exactMatch: u.exact_match })),
    );
    const settings = policySettings(config);
    const outcome = reassignStep(this.sql, config, iteration);
    if (outcome.decision === "widen") {
      // The rest of the full sweep joins this iteration's units, and the iteration is evaluated again.
      const planned = await plannedUnits(this.env, this.sql, this.ledger, config, iteration, true);
      this.commit(() => {
        this.sql.exec("UPDATE iterations SET full = 1 WHERE iteration = ?", iteration);
        planned();
        this.advance("evaluate");
        this.emit("widened", { iteration, units: units.length });
      });
      return this.wake();
    }
    const { assignment, objective: j } = outcome.scored;
    const next = outcome.decision === "done" ? null : outcome.state;
    const restart =
      outcome.decision === "restart"
        ? { ...outcome.state, firstIteration: iteration + 1, seed: restartSeed(settings, outcome.state.restart) }
        : null;
    const now = new Date().toISOString();
    this.commit(() => {
      this.sql.exec(
        "UPDATE iterations SET assignment = ?, objective = ?, exact_match = ?, finished_at = ? WHERE iteration = ?",
        JSON.stringify(assignment),
        j,
        tables.ownExactMatch(units, assignment),
        now,
        iteration,
      );
      this.emit("evaluated", { iteration, objective: j });
      if (next) {
        if (restart) {
          tables.insertRestart(this.sql, restart);
          this.emit("restart", { restart: restart.restart, seed: restart.seed, iteration: iteration + 1 });
        }
        tables.insertIteration(this.sql, iteration + 1, next.assignment, now, next.full);
        this.sql.exec("UPDATE run SET iteration = ? WHERE id = 1", iteration + 1);
        this.advance("merge");
        this.emit("iteration", { iteration: iteration + 1, assignment: next.assignment });
      }
    });
    if (next) return this.wake();
    if (config.parts) return this.allocateParts(config);
    const best = keptIterationOf(this.sql, config);
    if (!config.tune) return this.finish("done", null, best);
    // The best clustering's merges are tuned before the run is done (src/tuning/clusterTuner.ts).
    this.commit(() => {
      this.sql.exec("UPDATE run SET best_iteration = ? WHERE id = 1", best);
      this.advance("tune");
      this.emit("tune", { iteration: best });
    });
    await this.wake();
  }

  /**
   * Fails the run when a pinned task was deleted or replaced in the catalogue; true if it did. Asks
   * only for the tasks changed since the catalogue version it last checked: O(changes), not O(tasks).
   */
  private async failIfTasksChanged(): Promise<boolean> {
    const run = tables.readRun(this.sql);
    if (run?.state !== "running") return false;
    const seen = run.catalogue_seen ?? run.parsed.catalogueVersion;
    const since = await catalogue(this.env).changesSince(seen);
    if (since.catalogueVersion === seen) return false;
    const changed = changedTasks(run.parsed.tasks, since.tasks, new Set(since.changed));
    if (changed.length === 0) {
      this.sql.exec("UPDATE run SET catalogue_seen = ? WHERE id = 1", since.catalogueVersion);
      return false;
    }
    await this.finish(
      "failed",
      `the catalogue changed under the run: ${changed.map((c) => `task ${c.id} ${c.change}`).join(", ")}`,
    );
    return true;
  }

  /**
   * Writes a phase's results in one transaction, unless the run stopped meanwhile (a cancel
   * can land while a phase awaits R2): a stopped run must stay exactly as it was left.
   */
  private commit(write: () => void): void {
    this.ctx.storage.transactionSync(() => {
      if (tables.readRun(this.sql)?.state === "running") write();
    });
  }

  private async wake(at = Date.now()): Promise<void> {
    if (tables.readRun(this.sql)?.state === "running") await this.ctx.storage.setAlarm(at);
  }

  private advance(phase: RunPhase): void {
    this.sql.exec("UPDATE run SET phase = ?, updated_at = ? WHERE id = 1", phase, new Date().toISOString());
  }

  /** The one way out of "running"; whichever of done, failed and cancelled comes first stays. */
  private async finish(
    state: Exclude<RunState, "running">,
    reason: string | null,
    best: number | null = null,
  ): Promise<void> {
    const now = new Date().toISOString();
    let ended = false;
    this.commit(() => {
      this.sql.exec(
        "UPDATE run SET state = ?, reason = ?, best_iteration = ?, updated_at = ?, finished_at = ? WHERE id = 1",
        state,
        reason,
        best,
        now,
        now,
      );
      this.emit(state, reason === null ? {} : { reason });
      ended = true;
    });
    this.listeners.close();
    await this.ctx.storage.deleteAlarm();
    if (!ended) return;
    // Whoever waits for the run goes on from this message; should the send fail, the cron finds the run ended.
    await this.announce({ kind: "run-finished", runId: this.config()!.runId });
  }

  /** The run's or its report's end, to whoever listens (src/workflows/runFinished.ts); a failed send is logged. */
  private async announce(announced: RunFinished | ReportFinished): Promise<void> {
    await this.env.EVALUATIONS.send(announced).catch((e: unknown) =>
      console.warn(`${announced.runId}: ${announced.kind} not announced`, e),
    );
  }

  private emit(type: string, data: unknown): void {
    const at = new Date().toISOString();
    const seq = this.sql
      .exec<{ seq: number }>(
        "INSERT INTO events (at, type, data) VALUES (?, ?, ?) RETURNING seq",
        at,
        type,
        JSON.stringify(data),
      )
      .one().seq;
    this.listeners.push({ seq, type, data } satisfies RunEvent);
  }
}
