/**
 * One clustering run (D2C or a baseline) as a state machine advanced by alarms:
 * init -> merge -> evaluate -> reassign -> merge -> ... -> done | failed | cancelled.
 * Evaluation units go out over the EVALUATIONS queue and come back by RPC (`claimUnit`, then
 * `reportUnit`); the alarm doubles as the watchdog that re-sends units that never reported.
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
import { objective, placeNewTasks, type LossMatrix } from "../src/clustering/d2c";
import { keptIteration, restartSeed, startState, step, type Step } from "../src/clustering/policy";
import type { RunConfig } from "../src/runs/config";
import { initialAssignment, startsFromKMeans } from "../src/runs/initial";
import { subsetRunFinished } from "../src/delivery/subsetMessages";
import { isCandidateId, type CandidateResult } from "../src/runs/tuneCandidates";
import { MergeTuning } from "./runTuning";
import type { TuningView } from "./runStatus";
import { isSimilarityBlock, similarityBlocks } from "../src/runs/similarityBlocks";
import { kmeans } from "../src/clustering/kmeans";
import { clusterKey } from "../src/runs/keys";
import { buildMergedAdapter } from "../src/runs/merging";
import { buildPartAdapters, partKey } from "../src/runs/partAdapters";
import { partConfigName } from "../src/budget/candidates";
import { allocate } from "../src/budget/allocate";
import type { LossPage, ReportView, RunStatus } from "../src/runs/status";
import { isHeldOutUnit, type UnitReport } from "../src/runs/unit";
import { catalogue } from "../src/storage/catalogue";
import type { CachedMerge } from "./clusterCache";
import { RunListeners, storedEvents, type RunEvent } from "./runEvents";
import { HeldOutReport } from "./runReport";
import { SimilarityBlocks } from "./runSimilarity";
import { iterationLosses, policySettings, policyState } from "./runPolicy";
import { lossPage, runStatus } from "./runStatus";
import * as tables from "./runTables";
import type { RunPhase, RunState } from "./runTables";
import { nonFiniteLossReason, plannedUnits, sendFewShotUnits } from "./runUnits";

/** Sends of one unit before the run gives up on it (the queue retries failures on its own). */
const MAX_SENDS = 5;
/** Alarm attempts of a phase before a persistent error fails the run (transient R2 errors pass). */
const PHASE_ATTEMPTS = 3;

export class ClusterRun extends DurableObject<Env> {
  private sql: SqlStorage;
  private listeners = new RunListeners();
  private report!: HeldOutReport;
  private blocks!: SimilarityBlocks;
  private tuning!: MergeTuning;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    ctx.blockConcurrencyWhile(async () => {
      tables.createRunTables(this.sql);
      this.report = new HeldOutReport(this.sql, env.EVALUATIONS);
      this.blocks = new SimilarityBlocks(this.sql, env.EVALUATIONS);
      this.tuning = new MergeTuning(this.sql, env.EVALUATIONS);
    });
  }

  /** Starts the run; a second start of the same run is refused. */
  async start(config: RunConfig): Promise<void> {
    if (tables.readRun(this.sql)) throw new Error(`run ${config.runId} already exists`);
    const now = new Date().toISOString();
    this.sql.exec("INSERT INTO run VALUES (1, ?, 'running', 'init', 0, NULL, NULL, ?, ?, NULL, 0)", JSON.stringify(config), now, now);
    this.emit("started", { method: config.method, k: config.k, tasks: config.tasks.length });
    await this.wake();
  }

  /** The run's request as pinned when it started (task digests included): what a release checks against the catalogue. */
  config(): RunConfig | null {
    return tables.readRun(this.sql)?.parsed ?? null;
  }

  status(): RunStatus | null {
    const run = tables.readRun(this.sql);
    return run && runStatus(this.sql, run, this.report.view(run.parsed), this.blocks.usage(), this.tuningView(run.parsed));
  }

  /** A page of tasks of an iteration's loss matrix; null when the run or the iteration does not exist. */
  losses(iteration: number, offset: number, limit: number): LossPage | null {
    const run = tables.readRun(this.sql);
    return run && lossPage(this.sql, run, iteration, offset, limit);
  }

  /**
   * The consumer asks before it evaluates a message's units: the ids it may evaluate, each pending
   * unit once per send. A duplicate delivery, or a unit of a run that stopped, is dropped without
   * a forward pass.
   */
  claimUnits(unitIds: readonly string[]): string[] {
    const running = tables.readRun(this.sql)?.state === "running";
    return unitIds.filter((id) => (isHeldOutUnit(id) ? this.report.claim(id)
      : running && (isSimilarityBlock(id) ? this.blocks.claim(id) : isCandidateId(id) ? this.tuning.claim(id) : tables.claimUnit(this.sql, id))));
  }

  /**
   * A message's scores from the queue consumer. A duplicate delivery changes nothing; a non-finite
   * loss fails the run at once. One progress event per message, not per unit.
   */
  async reportUnits(reports: readonly UnitReport[]): Promise<void> {
    const run = tables.readRun(this.sql);
    if (!run) return;
    let counts: ReturnType<typeof tables.recordUnitLoss> = null;
    for (const { unitId, result } of reports) {
      if (isHeldOutUnit(unitId)) {
        this.report.record(run.parsed, unitId, result);
        continue;
      }
      if (run.state !== "running") continue;
      if (!Number.isFinite(result.loss)) return this.finish("failed", nonFiniteLossReason(this.sql, run.parsed, unitId, result.loss));
      counts = tables.recordUnitLoss(this.sql, unitId, result) ?? counts;
    }
    if (!counts) return;
    this.listeners.push({ type: "progress", data: { iteration: counts.iteration, evaluated: counts.total - counts.pending, units: counts.total } });
    if (counts.pending === 0 && counts.iteration === run.iteration && run.phase === "evaluate") await this.wake();
  }

  /** A block of the task-vector Gram matrix (`multiplyAdds`: the work it took); the last one missing wakes the run. */
  async reportSimilarity(blockId: string, dots: Float64Array, multiplyAdds: number): Promise<void> {
    const run = tables.readRun(this.sql);
    if (run?.state !== "running") return;
    if (this.blocks.record(blockId, dots, multiplyAdds) && run.phase === "similarity") await this.wake();
  }

  /** A tuning candidate's answer (src/runs/tuneCandidates.ts): the tuners go on, and the run ends when the last is done. */
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
   * The consumer's error for one attempt, kept as the reason if the unit ends in the dead-letter
   * queue; the claim is released for the queue's retry. A task deleted or replaced meanwhile (its
   * blobs gone) fails the run now, naming it, instead of after every retry.
   */
  async unitError(unitId: string, reason: string): Promise<void> {
    if (isHeldOutUnit(unitId)) return this.report.release(unitId, reason);
    if (isCandidateId(unitId)) this.tuning.release(unitId, reason);
    else if (isSimilarityBlock(unitId)) this.blocks.release(unitId, reason);
    else this.sql.exec("UPDATE units SET error = ?, claimed_at = NULL WHERE id = ? AND loss IS NULL", reason.slice(0, 500), unitId);
    await this.failIfTasksChanged();
  }

  /**
   * A unit cannot succeed: it exhausted its queue retries (`attempts`), or its evaluation failed
   * in a way no retry changes (`reason`, e.g. an adapter the reader refuses).
   */
  async unitFailed(unitId: string, attempts: number, reason?: string): Promise<void> {
    const run = tables.readRun(this.sql);
    if (!run) return;
    if (isHeldOutUnit(unitId)) return this.report.failUnit(run.parsed, unitId, attempts, reason);
    if (isSimilarityBlock(unitId)) {
      if (run.state !== "running" || !this.blocks.isPending(unitId) || (await this.failIfTasksChanged())) return;
      return this.finish("failed", reason === undefined
        ? `task similarity block ${unitId} failed after ${attempts} attempts: ${this.blocks.lastError(unitId) ?? "no error recorded"}`
        : `task similarity block ${unitId} cannot succeed: ${reason}`);
    }
    if (isCandidateId(unitId)) {
      if (run.state !== "running" || (await this.failIfTasksChanged())) return;
      return this.finish("failed", `${this.tuning.describe(run.parsed, unitId)} ${reason === undefined ? `failed after ${attempts} attempts` : `cannot succeed: ${reason}`}`);
    }
    const unit = this.sql.exec<tables.UnitRow>("SELECT * FROM units WHERE id = ?", unitId).toArray()[0];
    if (!unit || unit.loss !== null || (await this.failIfTasksChanged())) return;
    const task = run.parsed.tasks[unit.task].id;
    await this.finish("failed", reason === undefined
      ? `evaluation of task ${task} under cluster ${unit.cluster} failed after ${attempts} attempts: ${unit.error ?? "no error recorded"}`
      : `evaluation of task ${task} under cluster ${unit.cluster} cannot succeed: ${reason}`);
  }

  async cancel(): Promise<RunStatus | null> {
    await this.finish("cancelled", "cancelled by request");
    return this.status();
  }

  /**
   * Starts the held-out report of a done run over the queue (`testSha256`: each task's test split
   * digest, by task id, as the catalogue has it now); a report already running or done stays.
   */
  async requestReport(testSha256: Record<string, string>): Promise<ReportView> {
    const run = tables.readRun(this.sql);
    const status = run && runStatus(this.sql, run, null, this.blocks.usage(), this.tuningView(run.parsed));
    if (!run || !status?.result) throw new DomainError("conflict", "run_not_done", `run ${run?.parsed.runId} is ${run?.state}; a report needs a finished run`);
    const result = status.result;
    await this.report.start(run.parsed, {
      clusters: status.tasks.map((id) => ({ cluster: result.assignment[id], sha256: result.clusters[result.assignment[id]].sha256 })),
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
      const next = await this.report.watchdog(run.parsed);
      if (next !== null) await this.ctx.storage.setAlarm(next);
      return;
    }
    if (run?.state !== "running") return;
    try {
      if (await this.failIfTasksChanged()) return;
      await this.advanceFrom(run.phase, run.parsed, run.iteration);
    } catch (e) {
      const reason = e instanceof Error ? e.message : String(e);
      // A domain error (an unusable adapter, a non-finite merge) is the same on every attempt.
      if (!(e instanceof DomainError) && (info?.retryCount ?? 0) + 1 < PHASE_ATTEMPTS) throw e; // the runtime retries the alarm with backoff
      await this.finish("failed", `${run.phase} of iteration ${run.iteration}: ${reason}`);
    }
  }

  private advanceFrom(phase: RunPhase, config: RunConfig, iteration: number): Promise<void> {
    switch (phase) {
      case "init": return this.init(config);
      case "similarity": return this.similarity(config);
      case "merge": return this.merge(config, iteration);
      case "evaluate": return this.evaluate(config, iteration);
      case "reassign": return this.reassign(config, iteration);
      case "tune": return this.tune(config);
    }
  }

  /** Waits for the tuners (re-sending silent candidates); done, the run is. */
  private async tune(config: RunConfig): Promise<void> {
    const best = tables.readRun(this.sql)!.best_iteration!;
    if (!this.tuning.started()) await this.tuning.start(config, clustersOf(tables.assignmentOf(this.sql, best), config.k));
    if (this.tuning.done()) return this.finish("done", null, best);
    const exhausted = await this.tuning.watchdog(config);
    if (exhausted) return this.finish("failed", `${this.tuning.describe(config, exhausted)} never reported after ${MAX_SENDS} sends`);
    await this.wake(Date.now() + config.unitTimeoutMs);
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
    const { assignment, similarity } = await initialAssignment(this.env.BUCKET, config, () => this.targets(config));
    await this.begin(config, assignment, similarity);
  }

  /** Waits for the Gram matrix's blocks (re-sending silent ones), then starts from k-means on it. */
  private async similarity(config: RunConfig): Promise<void> {
    if (this.blocks.pending() > 0) {
      const exhausted = await this.blocks.resendOverdue(config, config.unitTimeoutMs, MAX_SENDS);
      if (exhausted) return this.finish("failed", `task similarity block ${exhausted} never reported after ${MAX_SENDS} sends`);
      return this.wake(Date.now() + config.unitTimeoutMs);
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
    const cat = catalogue(this.env);
    const known: Record<string, CachedMerge> = config.cache === false ? {} : await cat.cachedMerges(keys);
    const targets = await this.targets(config);
    const merges: CachedMerge[] = [];
    for (const [c, key] of keys.entries()) {
      let merged = known[key];
      if (!merged) {
        merged = await buildMergedAdapter(this.env.BUCKET, targets, members[c], config.merge);
        await cat.recordMerge(key, merged);
      }
      merges.push(merged);
    }
    this.commit(() => {
      merges.forEach((m, c) => this.sql.exec("INSERT OR REPLACE INTO clusters VALUES (?, ?, ?, ?, ?, ?, ?)",
        iteration, c, JSON.stringify(clusters[c]), keys[c], m.sha256, m.bytes, m.rank));
      this.advance("evaluate");
      // Sized by K: member counts, not task lists (the summary and /losses name the tasks).
      this.emit("merged", { iteration, clusters: merges.map((m, c) => ({ size: members[c].length, sha256: m.sha256, bytes: m.bytes })) });
    });
    await this.wake();
  }

  /** An alloc run's iteration: every task alone, as the part configuration of this iteration (0: none). */
  private async buildParts(config: RunConfig, iteration: number): Promise<void> {
    const part = iteration === 0 ? null : config.parts!.configs[iteration - 1];
    const built = await buildPartAdapters(this.env.BUCKET, await this.targets(config), config.tasks, part);
    this.commit(() => {
      built.forEach((m, t) => this.sql.exec("INSERT OR REPLACE INTO clusters VALUES (?, ?, ?, ?, ?, ?, ?)",
        iteration, t, JSON.stringify([t]), partKey(config.modelId, part, config.tasks[t]), m.sha256, m.bytes, m.rank));
      this.advance("evaluate");
      this.emit("merged", { iteration, part: partConfigName(part), bytes: built.reduce((n, m) => n + m.bytes, 0) });
    });
    await this.wake();
  }

  /** The knapsack over every task's measured parts (src/budget/allocate.ts); the run is done. */
  private async allocateParts(config: RunConfig): Promise<void> {
    const options = config.tasks.map(() => [] as { iteration: number; bytes: number; loss: number }[]);
    for (const u of this.sql.exec<{ task: number; iteration: number; bytes: number; loss: number }>(
      "SELECT u.task, u.iteration, c.bytes, u.loss FROM units u JOIN clusters c ON c.iteration = " +
        "u.iteration AND c.cluster = u.cluster ORDER BY u.iteration",
    )) {
      options[u.task].push(u);
    }
    // The base model's option (0 bytes) always fits.
    const { choices, bytes } = allocate(options, config.parts!.maxBytes)!;
    this.commit(() => {
      choices.forEach((o, t) =>
        this.sql.exec("INSERT OR REPLACE INTO parts VALUES (?, ?)", t, options[t][o].iteration),
      );
      this.emit("allocated", {
        bytes,
        maxBytes: config.parts!.maxBytes,
        withParts: choices.filter((o, t) => options[t][o].bytes > 0).length,
      });
    });
    await this.finish("done", null, 0);
  }

  /** First visit: create the units (cached losses filled in) and send the rest. Later visits: watchdog. */
  private async evaluate(config: RunConfig, iteration: number): Promise<void> {
    if (tables.unitCounts(this.sql, iteration) === null) this.commit(await plannedUnits(this.env, this.sql, config, iteration));
    if ((tables.unitCounts(this.sql, iteration)?.pending ?? 0) === 0) {
      this.commit(() => this.advance("reassign"));
      return this.wake();
    }
    const overdue = tables.overdueUnits(this.sql, iteration, Date.now() - config.unitTimeoutMs);
    const exhausted = overdue.find((u) => u.attempts >= MAX_SENDS);
    if (exhausted) {
      return this.finish("failed", `task ${config.tasks[exhausted.task].id} under cluster ${exhausted.cluster} never reported after ${MAX_SENDS} sends`);
    }
    if (overdue.length) await sendFewShotUnits(this.env.EVALUATIONS, this.sql, config, iteration, overdue);
    if (overdue.some((u) => u.attempts > 0)) this.emit("resent", { iteration, units: overdue.length });
    await this.wake(Date.now() + config.unitTimeoutMs);
  }

  private async reassign(config: RunConfig, iteration: number): Promise<void> {
    const units = tables.unitsOfIteration(this.sql, iteration);
    await catalogue(this.env).recordLosses(units.filter((u) => u.source === "queue")
      .map((u) => ({ key: u.loss_key, loss: u.loss!, tokens: u.tokens!, exactMatch: u.exact_match })));
    const losses = iterationLosses(this.sql, config, iteration);
    const settings = policySettings(config);
    const outcome = config.method === "d2c"
      ? this.d2cStep(config, iteration, losses)
      : this.baselineStep(config, iteration, losses);
    if (outcome.decision === "widen") {
      // The rest of the full sweep joins this iteration's units, and the iteration is evaluated again.
      const planned = await plannedUnits(this.env, this.sql, config, iteration, true);
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
    const restart = outcome.decision === "restart"
      ? { ...outcome.state, firstIteration: iteration + 1, seed: restartSeed(settings, outcome.state.restart) }
      : null;
    const now = new Date().toISOString();
    this.commit(() => {
      this.sql.exec("UPDATE iterations SET assignment = ?, objective = ?, exact_match = ?, finished_at = ? WHERE iteration = ?",
        JSON.stringify(assignment), j, tables.ownExactMatch(units, assignment), now, iteration);
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
    const iterations = this.sql.exec<{ objective: number; exact_match: number | null }>("SELECT objective, exact_match FROM iterations ORDER BY iteration")
      .toArray().map((r) => ({ objective: r.objective, exactMatch: r.exact_match }));
    const best = this.keptIteration(config, iterations);
    if (!config.tune) return this.finish("done", null, best);
    // The best clustering's merges are tuned before the run is done (src/tuning/clusterTuner.ts).
    this.commit(() => {
      this.sql.exec("UPDATE run SET best_iteration = ? WHERE id = 1", best);
      this.advance("tune");
      this.emit("tune", { iteration: best });
    });
    await this.wake();
  }

  /** D2C's iteration as the policy decides it (src/clustering/policy.ts): widen, next, restart or done. */
  private d2cStep(config: RunConfig, iteration: number, losses: LossMatrix): Step {
    const state = policyState(this.sql, config, iteration);
    // Only a restart's k-means start reads the similarities.
    const restarting = state.restart + 1 < (config.restarts ?? 1);
    const similarity = restarting ? tables.readSimilarity(this.sql, config.tasks.length) : null;
    return step(policySettings(config), state, losses, similarity);
  }

  /**
   * A baseline evaluates its start once (new tasks placed); an alloc run measures one part
   * configuration per iteration, all of them, every task alone.
   */
  private baselineStep(config: RunConfig, iteration: number, losses: LossMatrix): Step {
    const assignment = placeNewTasks(losses, tables.assignmentOf(this.sql, iteration));
    const scored = { assignment, objective: objective(losses, assignment) };
    if (config.parts && iteration + 1 < config.maxIterations) {
      return { decision: "next", scored, state: { restart: 0, iteration: iteration + 1, assignment, full: true } };
    }
    return { decision: "done", scored, fixedPoint: true };
  }

  /** Fails the run when a pinned task was deleted or replaced in the catalogue; true if it did. */
  private async failIfTasksChanged(): Promise<boolean> {
    const run = tables.readRun(this.sql);
    if (run?.state !== "running") return false;
    const changed = changedTasks(run.parsed.tasks, (await catalogue(this.env).list()).tasks);
    if (changed.length === 0) return false;
    await this.finish("failed", `the catalogue changed under the run: ${changed.map((c) => `task ${c.id} ${c.change}`).join(", ")}`);
    return true;
  }

  private async targets(config: RunConfig) {
    const model = await catalogue(this.env).model(config.modelId);
    if (!model) throw new Error(`model ${config.modelId} is no longer registered`);
    return model.loraTargets;
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

  /**
   * The iteration the run keeps, as the policy keeps it: its lowest J, or with restarts, the best
   * iteration of the trajectory `keptRestart` picks by the run's criterion: few-shot exact match by default,
   * which needs every kept unit's exact match (losses cached before it was kept have none: then J decides).
   */
  private keptIteration(config: RunConfig, iterations: readonly { objective: number; exactMatch: number | null }[]): number {
    const restartOf = tables.restartOfIterations(this.sql);
    return keptIteration(iterations.map((it, i) => ({ restart: restartOf(i), objective: it.objective })),
      config.restartCriterion ?? "exactMatch", (i) => iterations[i].exactMatch);
  }

  private advance(phase: RunPhase): void {
    this.sql.exec("UPDATE run SET phase = ?, updated_at = ? WHERE id = 1", phase, new Date().toISOString());
  }

  /** The one way out of "running"; whichever of done, failed and cancelled comes first stays. */
  private async finish(state: Exclude<RunState, "running">, reason: string | null, best: number | null = null): Promise<void> {
    const now = new Date().toISOString();
    this.commit(() => {
      this.sql.exec("UPDATE run SET state = ?, reason = ?, best_iteration = ?, updated_at = ?, finished_at = ? WHERE id = 1", state, reason, best, now, now);
      this.emit(state, reason === null ? {} : { reason });
    });
    this.listeners.close();
    await this.ctx.storage.deleteAlarm();
    // A subset's build goes on from here (src/delivery/subsetBuilds.ts); should this send fail, the cron finds the run ended.
    const config = this.config();
    if (config?.subset) {
      await this.env.EVALUATIONS.send(subsetRunFinished(config.subset, config.runId)).catch((e: unknown) => console.warn(`run ${config.runId}: subset message not sent`, e));
    }
  }

  private emit(type: string, data: unknown): void {
    const at = new Date().toISOString();
    const seq = this.sql.exec<{ seq: number }>("INSERT INTO events (at, type, data) VALUES (?, ?, ?) RETURNING seq", at, type, JSON.stringify(data)).one().seq;
    this.listeners.push({ seq, type, data } satisfies RunEvent);
  }
}
