/**
 * The releases of one device profile (./releaseHistory.ts), and the state of its automatic
 * re-clustering. Blobs are written before `commit` is called, so a committed manifest never names
 * a missing blob. Retiring (the profile is deleted) hides every release so far from devices and
 * from `latest`; versions keep counting, so a profile later created under the same id never goes
 * backwards. Per-device task sets have objects of their own: their index (./ProfileSubsets.ts)
 * and each one's releases (./SubsetReleases.ts); this object never writes what they serve.
 */
import { DurableObject } from "cloudflare:workers";
import type { PublishedRelease, ReleaseSummary } from "../src/delivery/release";
import type { ProfileReleases } from "../src/delivery/readModel";
import { migrate, type Migration } from "./migrations";
import {
  createReleaseTables,
  ReleaseHistory,
  type ReleaseInput,
  type ReleaseProbe,
  type RolloutChange,
} from "./releaseHistory";

export interface AutoState {
  readonly runId: string | null;
  readonly catalogueVersion: number;
  /** null while the run is going; then what the cron did with it. */
  readonly outcome: string | null;
  readonly updatedAt: string;
}

/** The schema (./migrations.ts). 1: as issue 21 left it (IF NOT EXISTS: state from before versioning). */
const MIGRATIONS: readonly Migration[] = [
  (sql) => {
    createReleaseTables(sql);
    sql.exec(`CREATE TABLE IF NOT EXISTS auto (
      id INTEGER PRIMARY KEY CHECK (id = 1), run_id TEXT, catalogue_version INTEGER NOT NULL, outcome TEXT,
      updated_at TEXT NOT NULL);`);
  },
];

export class Releases extends DurableObject<Env> {
  private sql: SqlStorage;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    ctx.blockConcurrencyWhile(async () => void migrate(this.sql, MIGRATIONS));
  }

  commit(profile: string, input: ReleaseInput): Promise<PublishedRelease> {
    return this.releasesOf(profile).commit(input);
  }

  sameAsNewest(profile: string, probe: ReleaseProbe): ReleaseSummary | null {
    return this.releasesOf(profile).sameAsNewest(probe);
  }

  publish(profile: string): Promise<ProfileReleases> {
    return this.releasesOf(profile).publish();
  }

  setRollout(profile: string, percent: number): Promise<RolloutChange | null> {
    return this.releasesOf(profile).setRollout(percent);
  }

  rollback(profile: string, version: number): Promise<ReleaseSummary | null> {
    return this.releasesOf(profile).rollback(version);
  }

  resignServed(profile: string): Promise<number> {
    return this.releasesOf(profile).resignServed();
  }

  servedKeyIds(profile: string): string[] {
    return this.releasesOf(profile).servedKeyIds();
  }

  refreshExpiry(profile: string): Promise<number> {
    return this.releasesOf(profile).refreshExpiry();
  }

  history(profile: string): ReleaseSummary[] {
    return this.releasesOf(profile).history();
  }

  latest(profile: string): ReleaseSummary | null {
    return this.releasesOf(profile).latest();
  }

  autoState(): AutoState | null {
    const row = this.sql
      .exec<{ run_id: string | null; catalogue_version: number; outcome: string | null; updated_at: string }>(
        "SELECT * FROM auto",
      )
      .toArray()[0];
    return row
      ? { runId: row.run_id, catalogueVersion: row.catalogue_version, outcome: row.outcome, updatedAt: row.updated_at }
      : null;
  }

  setAutoState(state: Omit<AutoState, "updatedAt">): void {
    this.sql.exec(
      "INSERT OR REPLACE INTO auto (id, run_id, catalogue_version, outcome, updated_at) VALUES (1, ?, ?, ?, ?)",
      state.runId,
      state.catalogueVersion,
      state.outcome,
      new Date().toISOString(),
    );
  }

  /**
   * The profile is deleted: its releases are retired and the cron's state forgotten (its run was for
   * the old profile).
   */
  async retire(profile: string): Promise<number> {
    this.sql.exec("DELETE FROM auto");
    return this.releasesOf(profile).retire();
  }

  private releasesOf(profile: string): ReleaseHistory {
    return new ReleaseHistory(this.sql, this.env, { profile });
  }
}
