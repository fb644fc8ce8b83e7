/**
 * The releases of one per-device task set of a profile (./releaseHistory.ts): a history of their
 * own (versions count per subset), published under the subset's read-model key only. Every call
 * names the subset, and the first one fixes it: an object asked about another subset than its
 * own refuses, so no caller can make it write another set's, or the profile's, manifests.
 */
import { DurableObject } from "cloudflare:workers";
import type { PublishedRelease, ReleaseSummary } from "../src/delivery/release";
import type { SubsetScope } from "../src/delivery/subsetView";
import type { ProfileReleases } from "../src/delivery/readModel";
import { migrate, type Migration } from "./migrations";
import { createReleaseTables, ReleaseHistory, type ReleaseInput, type ReleaseProbe } from "./releaseHistory";

/** The set a SubsetReleases object keeps: its profile and its key (src/delivery/needs.ts). */
/** The schema (./migrations.ts). 1: as issue 21 left it (IF NOT EXISTS: state from before versioning). */
const MIGRATIONS: readonly Migration[] = [
  (sql) => {
    createReleaseTables(sql);
    sql.exec(
      "CREATE TABLE IF NOT EXISTS scope (id INTEGER PRIMARY KEY CHECK (id = 1), profile TEXT NOT NULL, subset " +
        "TEXT NOT NULL)",
    );
  },
];

export class SubsetReleases extends DurableObject<Env> {
  private sql: SqlStorage;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    ctx.blockConcurrencyWhile(async () => void migrate(this.sql, MIGRATIONS));
  }

  commit(scope: SubsetScope, input: ReleaseInput): Promise<PublishedRelease> {
    return this.releasesOf(scope).commit(input);
  }

  sameAsNewest(scope: SubsetScope, probe: ReleaseProbe): ReleaseSummary | null {
    return this.releasesOf(scope).sameAsNewest(probe);
  }

  publish(scope: SubsetScope): Promise<ProfileReleases> {
    return this.releasesOf(scope).publish();
  }

  rollback(scope: SubsetScope, version: number): Promise<ReleaseSummary | null> {
    return this.releasesOf(scope).rollback(version);
  }

  resignServed(scope: SubsetScope): Promise<number> {
    return this.releasesOf(scope).resignServed();
  }

  servedKeyIds(scope: SubsetScope): string[] {
    return this.releasesOf(scope).servedKeyIds();
  }

  refreshExpiry(scope: SubsetScope): Promise<number> {
    return this.releasesOf(scope).refreshExpiry();
  }

  history(scope: SubsetScope): ReleaseSummary[] {
    return this.releasesOf(scope).history();
  }

  latest(scope: SubsetScope): ReleaseSummary | null {
    return this.releasesOf(scope).latest();
  }

  /**
   * The subset is no longer served: its key leaves the edge (devices get the profile-wide release);
   * its history stays.
   */
  retire(scope: SubsetScope): Promise<number> {
    return this.releasesOf(scope).retire();
  }

  private releasesOf(scope: SubsetScope): ReleaseHistory {
    const own = this.sql.exec<{ profile: string; subset: string }>("SELECT profile, subset FROM scope").toArray()[0];
    if (!own) this.sql.exec("INSERT INTO scope (id, profile, subset) VALUES (1, ?, ?)", scope.profile, scope.subset);
    else if (own.profile !== scope.profile || own.subset !== scope.subset) {
      throw new Error(
        `this object keeps the releases of subset ${own.subset} of profile ${own.profile}, not ` +
          `${scope.subset} of ${scope.profile}`,
      );
    }
    return new ReleaseHistory(this.sql, this.env, scope);
  }
}
