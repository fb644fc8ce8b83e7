/** `d2c-edge runs`: the recent clustering runs (GET /v1/runs), newest first. */
import { listing } from "./command.ts";

/**
 * A run as GET /v1/runs lists it. The type is RunSummary in durable-objects/Catalogue.ts, which
 * needs the Workers types this Node-side code does not load.
 */
interface RunSummary {
  readonly runId: string;
  readonly createdAt: string;
  readonly method: string;
  readonly k: number;
  readonly tasks: number;
  readonly profile?: string;
}

export const runs = listing<RunSummary>({
  name: "runs",
  summary: "The recent clustering runs (the last 100), newest first: id, start, method, K, tasks, profile.",
  about: "`d2c-edge status <runId>` shows one of them in full.",
  route: "/v1/runs",
  key: "runs",
  empty: () => "no runs yet",
  line: (r) => `${r.runId}  ${r.createdAt}  ${r.method}, K=${r.k}, ${r.tasks} tasks${r.profile ? `, profile ${r.profile}` : ""}`,
});
