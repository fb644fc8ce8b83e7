/**
 * Merge tuning of a finished clustering (issue 15), in the run's object: one tuner per cluster
 * of two or more tasks (src/tuning/cluster.ts, the rule the experiment measured), its state
 * stored between rounds, each round's merges sent as queue messages (src/runs/tuneCandidates.ts),
 * leased through the run's ledger (kind "candidate"). When a tuner is done, its chosen merge is evaluated once more as
 * the cluster's `final` candidate: that builds the adapter shipped and measures its few-shot losses.
 */
import type { MergeOptions } from "../src/adapters/merge";
import type { RunConfig } from "../src/runs/config";
import { sendMessages } from "../src/runs/queueBatches";
import type { CandidateMessage, CandidateResult } from "../src/runs/tuneCandidates";
import {
  askClusterTuning,
  createClusterTuning,
  tellClusterTuning,
  type ClusterTuningState,
  type MemberLosses,
} from "../src/tuning/cluster";
import { screenCandidates, screenedMethods } from "../src/tuning/screen";
import type { TunedCluster } from "../src/runs/status";
import type { WorkLedger } from "./workLedger";

const FINAL = "final";

interface ClusterRow extends Record<string, SqlStorageValue> {
  cluster: number;
  members: string;
  state: string;
  /** Rounds told so far: candidate keys are `<round>:<index>`. */
  round: number;
}

interface CandidateRow extends Record<string, SqlStorageValue> {
  id: string;
  cluster: number;
  key: string;
  merge: string;
  sha256: string | null;
  bytes: number | null;
  rank: number | null;
  losses: string | null;
  passes: number | null;
  ms: number | null;
}

const candidateId = (cluster: number, key: string) => `tune:${cluster}:${key}`;

export class MergeTuning {
  constructor(
    private readonly sql: SqlStorage,
    private readonly queue: Queue,
    private readonly ledger: WorkLedger,
  ) {}

  started(): boolean {
    return this.sql.exec("SELECT 1 FROM tune_started").toArray().length > 0;
  }

  /** Starts a tuner for every cluster of two or more tasks (`clusters`: task indices per cluster label). */
  async start(config: RunConfig, clusters: readonly (readonly number[])[]): Promise<void> {
    const settings = config.tune!;
    this.sql.exec("INSERT OR IGNORE INTO tune_started (id, at) VALUES (1, ?)", new Date().toISOString());
    clusters.forEach((members, cluster) => {
      if (members.length < 2) return;
      const state = createClusterTuning({
        members,
        exampleCounts: members.map((t) => config.tasks[t].fewshot),
        candidates: screenCandidates(
          screenedMethods(config.merge, settings.densities, config.seed),
          settings.scales,
          members.length,
        ),
        folds: settings.folds,
        budget: settings.budget,
        sigma0: settings.sigma0,
        penalty: settings.penalty,
        scaleCoordinate: settings.scaleCoordinate,
        seed: config.seed,
      });
      this.sql.exec(
        "INSERT OR REPLACE INTO tune_clusters (cluster, members, state, round) VALUES (?, ?, ?, 0)",
        cluster,
        JSON.stringify(members),
        JSON.stringify(state),
      );
    });
    await this.sendNew(config);
  }

  /** Every tuner done and every final candidate evaluated (true at once when no cluster had two tasks). */
  done(): boolean {
    return this.ledger.open("candidate") === 0 && this.states().every(({ state }) => state.phase === "done");
  }

  /** A candidate's answer: recorded once, fed to its cluster's tuner, and the tuner's next candidates sent. */
  async record(config: RunConfig, id: string, result: CandidateResult): Promise<void> {
    if (!this.ledger.complete(id)) return;
    this.sql.exec(
      "UPDATE tune_candidates SET sha256 = ?, bytes = ?, rank = ?, losses = ?, passes = ?, ms = ? WHERE id = ?",
      result.sha256,
      result.bytes,
      result.rank,
      JSON.stringify(result.losses),
      result.forwardPasses,
      result.ms,
      id,
    );
    await this.sendNew(config);
  }

  /** A candidate as the run's failure reasons name it. */
  describe(config: RunConfig, id: string): string {
    const row = this.sql.exec<CandidateRow>("SELECT * FROM tune_candidates WHERE id = ?", id).toArray()[0];
    if (!row) return `tuning candidate ${id}`;
    const members = (
      JSON.parse(
        this.sql.exec<{ members: string }>("SELECT members FROM tune_clusters WHERE cluster = ?", row.cluster).one()
          .members,
      ) as number[]
    ).map((t) => config.tasks[t].id);
    return `tuning candidate ${row.key} of cluster ${row.cluster} (${members.join(", ")})`;
  }

  /** Per cluster label: what tuning chose and the adapter it built; clusters of one task are absent. */
  results(): Map<number, TunedCluster & { sha256: string; bytes: number; rank: number; losses: MemberLosses }> {
    const out = new Map<number, TunedCluster & { sha256: string; bytes: number; rank: number; losses: MemberLosses }>();
    for (const { cluster, state } of this.states()) {
      const final = this.sql
        .exec<CandidateRow>("SELECT * FROM tune_candidates WHERE id = ?", candidateId(cluster, FINAL))
        .toArray()[0];
      if (!state.result || !final?.losses) continue;
      const { weights, ...merge } = state.result.merge;
      const candidates = this.sql
        .exec<{ n: number }>("SELECT count(losses) AS n FROM tune_candidates WHERE cluster = ?", cluster)
        .one().n;
      out.set(cluster, {
        merge,
        weights: weights!,
        weightsKept: state.result.weightsKept,
        heldBackScreened: state.heldBackStart,
        heldBackTuned: state.heldBackTuned,
        candidates,
        sha256: final.sha256!,
        bytes: final.bytes!,
        rank: final.rank!,
        losses: JSON.parse(final.losses) as number[][],
      });
    }
    return out;
  }

  /** Candidates evaluated and the forward passes the consumers counted for them. */
  usage(): { candidates: number; forwardPasses: number; ms: number } {
    const row = this.sql
      .exec<{ n: number; passes: number | null; ms: number | null }>(
        "SELECT count(losses) AS n, sum(passes) AS passes, sum(ms) AS ms FROM tune_candidates",
      )
      .one();
    return { candidates: row.n, forwardPasses: row.passes ?? 0, ms: row.ms ?? 0 };
  }

  private states(): { cluster: number; members: number[]; state: ClusterTuningState; round: number }[] {
    return this.sql
      .exec<ClusterRow>("SELECT * FROM tune_clusters ORDER BY cluster")
      .toArray()
      .map((r) => ({
        cluster: r.cluster,
        members: JSON.parse(r.members) as number[],
        state: JSON.parse(r.state) as ClusterTuningState,
        round: r.round,
      }));
  }

  /**
   * Tells each tuner every round whose merges are all answered, stores its state, and creates and
   * sends the merges it now asks for (one already evaluated in this cluster is answered from there).
   */
  private async sendNew(config: RunConfig): Promise<void> {
    const created: string[] = [];
    for (const { cluster, state: before, round: told } of this.states()) {
      const rows = this.sql.exec<CandidateRow>("SELECT * FROM tune_candidates WHERE cluster = ?", cluster).toArray();
      const byMerge = new Map(
        rows.filter((r) => r.losses !== null).map((r) => [r.merge, JSON.parse(r.losses!) as MemberLosses]),
      );
      let state = before;
      let round = told;
      let wanted: { key: string; merge: MergeOptions }[] = [];
      for (;;) {
        const asked = askClusterTuning(state);
        state = asked.state;
        if (asked.merges.length === 0) {
          wanted = [{ key: FINAL, merge: state.result!.merge }];
          break;
        }
        const keyed = asked.merges.map((merge, i) => ({ key: `${round}:${i}`, merge }));
        const losses = keyed.map(({ key, merge }) => {
          const row = rows.find((r) => r.key === key && r.losses !== null);
          return row ? (JSON.parse(row.losses!) as MemberLosses) : byMerge.get(JSON.stringify(merge));
        });
        if (losses.some((l) => l === undefined)) {
          wanted = keyed;
          break;
        }
        state = tellClusterTuning(state, losses as MemberLosses[]);
        round++;
      }
      this.sql.exec(
        "UPDATE tune_clusters SET state = ?, round = ? WHERE cluster = ?",
        JSON.stringify(state),
        round,
        cluster,
      );
      for (const c of wanted) {
        if (rows.some((r) => r.key === c.key)) continue;
        // A merge evaluated before in this cluster needs no message: the final one copies its row,
        // a round's is told from it on the next call.
        const same = rows.find((r) => r.losses !== null && r.merge === JSON.stringify(c.merge));
        if (same && c.key !== FINAL) continue;
        const id = candidateId(cluster, c.key);
        this.sql.exec(
          "INSERT INTO tune_candidates (id, cluster, key, merge, sha256, bytes, rank, losses, passes, ms) " +
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0, 0)",
          id,
          cluster,
          c.key,
          JSON.stringify(c.merge),
          same?.sha256 ?? null,
          same?.bytes ?? null,
          same?.rank ?? null,
          same?.losses ?? null,
        );
        if (!same) created.push(id);
      }
    }
    this.ledger.add(
      "candidate",
      created.map((id) => ({ id, ref: id })),
    );
    await this.send(config, created);
  }

  /** Sends candidates by id, marked sent in the ledger before the messages go. */
  async send(config: RunConfig, ids: readonly string[]): Promise<void> {
    if (ids.length === 0) return;
    const membersOf = new Map(this.states().map((s) => [s.cluster, s.members]));
    const candidates = ids.map((id) =>
      this.sql.exec<CandidateRow>("SELECT * FROM tune_candidates WHERE id = ?", id).one(),
    );
    this.ledger.markSent(ids);
    await sendMessages(
      this.queue,
      candidates.map(
        (c): CandidateMessage => ({
          kind: "candidate",
          runId: config.runId,
          candidateId: c.id,
          modelId: config.modelId,
          members: membersOf.get(c.cluster)!.map((t) => {
            const { id, adapterSha256, fewshotSha256 } = config.tasks[t];
            return { id, adapterSha256, fewshotSha256 };
          }),
          merge: JSON.parse(c.merge) as CandidateMessage["merge"],
        }),
      ),
    );
  }
}
