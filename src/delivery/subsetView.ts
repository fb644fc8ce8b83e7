/**
 * A subset release as operators see it (`GET /v1/profiles/:id`'s `subsets`); plain data, shared with the CLI and
 * console.
 */

/**
 * waiting: requested, not yet built (the profile's build limit was reached; the cron starts it);
 * building: its run is going; published: devices with this need are served its release;
 * failed: the last build failed (`outcome` says why; the next request or cron tick tries again).
 * A subset dropped by the bounds (decision 0010) is no longer listed: its devices get the
 * profile-wide release, and a later need builds it again, its own versions counting on.
 */
export type SubsetState = "waiting" | "building" | "published" | "failed";

export interface SubsetView {
  /** The canonical key: sha256 of the sorted task ids, 16 hex digits. */
  readonly key: string;
  readonly tasks: readonly string[];
  /**
   * The need that first asked for it (other needs may map to the same tasks): languages and apps, or a task set's name.
   */
  readonly locales: readonly string[];
  readonly apps: readonly string[];
  readonly taskSet: string | null;
  readonly state: SubsetState;
  /**
   * The run building or that built it: D2C, or method "own" (each task its own adapter) within the budget; null before
   * the first build starts.
   */
  readonly runId: string | null;
  /** What the last build did, for operators. */
  readonly outcome: string | null;
  /** Its newest release, null before the first. */
  readonly release: {
    readonly version: number;
    readonly createdAt: string;
    readonly catalogueVersion: number;
    readonly adapters: number;
    /** Few-shot J of the release (mean loss of its tasks under their adapters). */
    readonly objective: number;
  } | null;
  /** Whether a release of it was ever published (a released subset waiting on a rebuild still serves its last). */
  readonly released: boolean;
  /** Distinct networks that asked for it over the last 7 days (at most 64 counted): what the bounds rank by. */
  readonly demand: number;
  /**
   * Reports from the edge (each isolate reports a need at most once a minute unserved, once an hour
   * served: src/delivery/subsetRequests.ts).
   */
  readonly requests: number;
  readonly firstRequestedAt: string;
  readonly lastRequestedAt: string;
  /** Mean held-out exact match of its tasks, once a held-out report of its run exists; else null. */
  readonly heldOutExactMatch: number | null;
}

/** Which per-device task set a SubsetReleases object holds the history of. */
export interface SubsetScope {
  readonly profile: string;
  readonly subset: string;
}
