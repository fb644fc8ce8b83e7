/**
 * Queue messages of per-device task sets (issue 14), on the evaluations queue beside units: the
 * device path reports a need (it never calls a Durable Object), and a subset's run reports its end.
 */
import type { SubsetRequest } from "../../durable-objects/subsetIndex";

export interface SubsetRequested extends SubsetRequest {
  readonly type: "subset-requested";
  readonly profile: string;
}

export interface SubsetRunFinished {
  readonly type: "subset-run-finished";
  readonly profile: string;
  readonly key: string;
  readonly runId: string;
}

export type SubsetMessage = SubsetRequested | SubsetRunFinished;

export function isSubsetMessage(body: unknown): body is SubsetMessage {
  const type = (body as { type?: unknown } | null)?.type;
  return type === "subset-requested" || type === "subset-run-finished";
}

export const subsetRunFinished = (subset: { profile: string; key: string }, runId: string): SubsetRunFinished =>
  ({ type: "subset-run-finished", profile: subset.profile, key: subset.key, runId });
