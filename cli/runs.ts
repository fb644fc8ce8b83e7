/** `d2c-edge runs`: the recent clustering runs (GET /v1/runs), newest first. */
import type { RunSummary } from "../src/runs/config.ts";
import { listing } from "./command.ts";

export const runs = listing<RunSummary>({
  name: "runs",
  summary: "The recent clustering runs (the last 100), newest first: id, start, method, K, tasks, profile.",
  about: "`d2c-edge status <runId>` shows one of them in full.",
  route: "/v1/runs",
  key: "runs",
  empty: () => "no runs yet",
  line: (r) =>
    `${r.runId}  ${r.createdAt}  ${r.method}, K=${r.k}, ${r.tasks} tasks${r.profile ? `, profile ${r.profile}` : ""}`,
});
