/**
 * Queue messages of per-device task sets (issue 14), on the evaluations queue beside units: the
 * device path reports a need (it never calls a Durable Object), and a subset's run reports its end.
 */
/** A need as the edge reports it: the subset it covers, the need as stated, and who asked. */
export interface SubsetRequest {
  readonly key: string;
  readonly tasks: readonly string[];
  readonly locales: readonly string[];
  readonly apps: readonly string[];
  readonly taskSet?: string;
  /**
   * Pseudonyms of the networks that asked since the isolate's last report (src/delivery/reporter.ts),
   * the first the newest; at most REPORT_NETWORKS.
   */
  readonly networks: readonly string[];
}

export interface SubsetRequested extends SubsetRequest {
  readonly kind: "subset-requested";
  readonly profile: string;
}

export interface SubsetRunFinished {
  readonly kind: "subset-run-finished";
  readonly profile: string;
  readonly key: string;
  readonly runId: string;
}

export type SubsetMessage = SubsetRequested | SubsetRunFinished;

export const subsetRunFinished = (subset: { profile: string; key: string }, runId: string): SubsetRunFinished =>
  ({ kind: "subset-run-finished", profile: subset.profile, key: subset.key, runId });
