/**
 * The index of one profile's per-device task sets (./subsetIndex.ts): what devices asked for,
 * their demand, and where each build stands. It holds no release and writes nothing devices read:
 * each subset's releases are a SubsetReleases object, the profile's own a Releases object.
 */
import { DurableObject } from "cloudflare:workers";
import type { SubsetRequest } from "../src/delivery/subsetMessages";
import type { SubsetView } from "../src/delivery/subsetView";
import { changedTasks } from "../src/runs/pinned";
import type { TaskRecord } from "../src/catalogue/task";
import { migrate } from "./migrations";
import * as index from "./subsetIndex";

/**
 * Reports handled since the object last started, and new needs dropped unwritten: in memory, since
 * counting a drop must not write.
 */
export interface ReportCounts {
  handled: number;
  network_quota: number;
  waiting_room_full: number;
}

export class ProfileSubsets extends DurableObject<Env> {
  private sql: SqlStorage;
  private counts: ReportCounts = { handled: 0, network_quota: 0, waiting_room_full: 0 };

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    // The schema (./migrations.ts). 1: as issue 21 left it (IF NOT EXISTS: state from before versioning).
    ctx.blockConcurrencyWhile(async () => void migrate(this.sql, [index.createSubsetTables]));
  }

  request(need: SubsetRequest, limits: index.SubsetLimits): index.RequestOutcome {
    const outcome = index.request(this.sql, need, limits);
    this.counts.handled++;
    if (outcome.dropped) this.counts[outcome.dropped]++;
    return outcome;
  }

  /** What operators see of a flood: reports handled and new needs dropped since the object started. */
  reportCounts(): ReportCounts {
    return { ...this.counts };
  }

  building(key: string, runId: string): void {
    index.building(this.sql, key, runId);
  }

  claimFinish(key: string, runId: string): boolean {
    return index.claimFinish(this.sql, key, runId);
  }

  unclaimFinish(key: string, runId: string): void {
    index.unclaim(this.sql, key, runId);
  }

  built(key: string, result: index.BuildResult): boolean {
    return index.built(this.sql, key, result);
  }

  /** The cron's pass, given today's catalogue: the subsets to build now, and the released ones retired to make room. */
  due(catalogue: readonly TaskRecord[], limits: index.SubsetLimits): { build: string[]; retired: string[] } {
    return index.due(this.sql, (pinned) => changedTasks(pinned, catalogue).length > 0, limits);
  }

  runsGoing(): { key: string; runId: string }[] {
    return index.runsGoing(this.sql);
  }

  tasksOf(key: string): string[] | null {
    return index.tasksOf(this.sql, key);
  }

  list(
    limit: number,
    before?: number,
  ): { subsets: Omit<SubsetView, "release" | "heldOutExactMatch">[]; next: number | null; total: number } {
    return index.list(this.sql, limit, before);
  }

  releasedKeys(): string[] {
    return index.releasedKeys(this.sql);
  }

  clear(): string[] {
    return index.clear(this.sql);
  }
}
