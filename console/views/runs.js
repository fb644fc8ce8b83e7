// @ts-check
/** Start a run; the recent runs at a glance: state, method, K, J, held-out score, duration, cost. */
import { api, capabilities, runRequestSchema } from "../api-client.js";
import { h } from "../dom.js";
import { runForm } from "./runForm.js";

/** How often the list is read again while a run in it is running. */
const REFRESH_MS = 3000;
/** A figure the runs index does not have (yet, or for a run indexed before it kept one). */
const ABSENT = "—";
const COLUMNS = ["run", "started", "state", "method", "K", "tasks", "J", "held-out", "duration", "cost", "profile", ""];

/**
 * @param {HTMLElement} root @param {string} preset task patterns for the form (from the catalogue)
 * @param {AbortSignal} signal ends the refreshing when the view changes
 */
export async function renderRuns(root, preset, signal) {
  const [{ runs }, { profiles }, { tasks }, can, schema] = await Promise.all([
    api("/v1/runs"),
    api("/v1/profiles"),
    api("/v1/tasks"),
    capabilities(),
    runRequestSchema(),
  ]);
  const body = h("tbody");
  const draw = (/** @type {any[]} */ list) => body.replaceChildren(...list.map((r) => runRow(r, refresh)));
  async function refresh() {
    const answer = await api("/v1/runs").catch(() => null);
    if (answer && !signal.aborted) draw(answer.runs);
    return answer?.runs ?? [];
  }
  draw(runs);
  root.replaceChildren(
    h("h2", null, "Clustering runs"),
    runForm({ profiles, tasks, can, schema, preset: decodeURIComponent(preset) }),
    h(
      "table",
      { id: "runs" },
      h(
        "thead",
        null,
        h(
          "tr",
          null,
          COLUMNS.map((c) => h("th", null, c)),
        ),
      ),
      body,
    ),
  );
  // The index learns a run's end from the run itself; while one is running, read the list again.
  let shown = runs;
  while (shown.some((/** @type {any} */ r) => r.state === "running") && !signal.aborted) {
    await new Promise((resolve) => setTimeout(resolve, REFRESH_MS));
    if (!signal.aborted) shown = await refresh();
  }
}

/**
 * One run of GET /v1/runs; a figure it lacks shows as ABSENT. @param {any} r
 * @param {() => Promise<unknown>} refresh reads the list again (after a cancel)
 */
function runRow(r, refresh) {
  const cancel = async () => {
    // A refusal (the run ended meanwhile): api() has shown the server's message.
    await api(`/v1/runs/${r.runId}/cancel`, { method: "POST" }).catch(() => null);
    await refresh();
  };
  return h(
    "tr",
    { "data-run": r.runId },
    h("td", null, h("a", { href: `#run/${r.runId}` }, r.runId.slice(4, 12))),
    h("td", { title: r.createdAt }, new Date(r.createdAt).toLocaleString()),
    h("td", { class: "run-state" }, r.state ? h("span", { class: `state ${r.state}` }, r.state) : ABSENT),
    [
      r.method,
      r.k,
      r.tasks,
      r.objective === undefined ? ABSENT : r.objective.toFixed(4),
      r.heldOut === undefined ? ABSENT : `${(100 * r.heldOut).toFixed(1)}%`,
      r.durationSeconds === undefined ? ABSENT : duration(r.durationSeconds),
      r.estimatedUsd === undefined ? ABSENT : `$${r.estimatedUsd.toPrecision(2)}`,
      r.profile ?? ABSENT,
    ].map((v) => h("td", null, v)),
    h("td", null, r.state === "running" ? h("button", { class: "cancel", onclick: cancel }, "Cancel") : null),
  );
}

/** A run's length in its two largest units: "48.2 s", "3 min 12 s", "1 h 5 min". @param {number} seconds */
export function duration(seconds) {
  if (seconds < 60) return `${seconds.toFixed(1)} s`;
  const whole = Math.round(seconds);
  if (whole < 3600) return `${Math.floor(whole / 60)} min ${whole % 60} s`;
  return `${Math.floor(whole / 3600)} h ${Math.floor((whole % 3600) / 60)} min`;
}
