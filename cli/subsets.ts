/**
 * `d2c-edge subsets <profileId>`: a profile's subset releases (per-device task sets, GET
 * /v1/profiles/:id/subsets, every page).
 */
import type { SubsetView } from "../src/delivery/subsetView.ts";
import type { Command } from "./command.ts";

/** How many task ids a line names before it counts the rest: a need's tasks fit on one terminal line. */
export const SHOWN_TASKS = 5;

/** The tasks: their count, then the first SHOWN_TASKS ids and how many more. */
const describeTasks = (tasks: readonly string[]) => {
  const shown = tasks.slice(0, SHOWN_TASKS).join(" ");
  const rest = tasks.length - SHOWN_TASKS;
  return `${tasks.length} ${tasks.length === 1 ? "task" : "tasks"} (${shown}${rest > 0 ? ` +${rest} more` : ""})`;
};

/** The need that first asked for it: a task set's name, or its locales and apps, either possibly empty. */
const describeNeed = (view: SubsetView) => {
  if (view.taskSet) return `task set ${view.taskSet}`;
  const parts = [
    view.locales.length > 0 && `locales ${view.locales.join(",")}`,
    view.apps.length > 0 && `apps ${view.apps.join(",")}`,
  ].filter(Boolean);
  return parts.length > 0 ? parts.join(", ") : "no locales or apps";
};

/**
 * One line per subset release: key, state, its newest release, tasks, the need, its demand (distinct
 * networks) and reports, and, when
 * there is one, held-out exact match; the build's outcome when failed or waiting (why it is not served).
 */
export function describeSubset(view: SubsetView): string {
  const release = view.release ? `release ${view.release.version}` : "no release yet";
  const networks = `${view.demand} ${view.demand === 1 ? "network" : "networks"}`;
  const requests =
    `${networks}, ${view.requests} ${view.requests === 1 ? "report" : "reports"}, last ` + `${view.lastRequestedAt}`;
  const heldOut =
    view.heldOutExactMatch === null ? "" : `, held-out exact match ${(100 * view.heldOutExactMatch).toFixed(1)}%`;
  const outcome = (view.state === "failed" || view.state === "waiting") && view.outcome ? `: ${view.outcome}` : "";
  return (
    `${view.key} ${view.state}, ${release}, ${describeTasks(view.tasks)}, need ${describeNeed(view)}, ` +
    `${requests}${heldOut}${outcome}`
  );
}

interface SubsetPage {
  readonly subsets: SubsetView[];
  readonly next: number | null;
}

export const subsets: Command = {
  name: "subsets",
  usage: "<profileId> [--json]",
  summary:
    "A profile's subset releases (per-device task sets), one line each: key, state, release, tasks, need, demand.",
  help:
    `A device that states its locales and apps (or a task set its profile names) is served a subset release ` +
    `built for that need, with its own
signed release history. A stated need is built once the profile's subsetQuorum of distinct networks asked
for it (default 2); a named task set on its first request. States: waiting (below the quorum, or on the
build limits or the bound; the cron starts it), building, published, failed (the next request or cron tick
tries again). A need dropped by the bound (maxSubsets, ranked by demand: distinct networks over 7 days) is
no longer listed; its devices get the profile-wide release.

Options:
  --json           print { profile, subsets } from GET /v1/profiles/:id/subsets (every page) as JSON`,
  options: { json: { type: "boolean" } },
  positionals: ["profileId"],
  async run({ values, positionals: [profile], api }) {
    const views: SubsetView[] = [];
    for (let cursor: number | null = null; ; ) {
      const page: SubsetPage = await api.json(
        "GET",
        `/v1/profiles/${profile}/subsets?limit=200${cursor === null ? "" : `&cursor=${cursor}`}`,
      );
      views.push(...page.subsets);
      cursor = page.next;
      if (cursor === null) break;
    }
    if (values.json) console.log(JSON.stringify({ profile, subsets: views }, null, 2));
    else if (views.length === 0) console.log(`${profile} has no subset releases`);
    else for (const view of views) console.log(describeSubset(view));
    return 0;
  },
};
