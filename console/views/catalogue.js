// @ts-check
/** The catalogue's tasks, searched by id and filtered by model, application and language. */
import { api } from "../api-client.js";
import { h } from "../dom.js";

const COLUMNS = ["task", "application", "language", "model", "rank", "adapter", "few-shot", "held-out"];
/** The filters, each a field of a task: the select offers the values the catalogue has. */
const FILTERS = /** @type {const} */ ([
  ["modelId", "model"],
  ["application", "application"],
  ["language", "language"],
]);

/** @param {HTMLElement} root */
export async function renderCatalogue(root) {
  const { tasks, catalogueVersion } = await api("/v1/tasks");
  const search = h("input", { type: "search", name: "q", placeholder: "task id contains", "aria-label": "search" });
  const selects = FILTERS.map(([field, label]) =>
    h(
      "select",
      { name: field, "aria-label": label },
      h("option", { value: "" }, `any ${label}`),
      [...new Set(tasks.map((/** @type {any} */ t) => t[field] ?? ""))]
        .filter(Boolean)
        .sort()
        .map((v) => h("option", null, v)),
    ),
  );
  const body = h("tbody");
  const count = h("span", { class: "muted", id: "shown" });
  const runThese = h("a", { id: "run-these" });
  const filter = () => {
    const q = search.value.trim().toLowerCase();
    const shown = tasks.filter(
      (/** @type {any} */ t) =>
        t.id.toLowerCase().includes(q) &&
        FILTERS.every(([field], i) => !selects[i].value || t[field] === selects[i].value),
    );
    body.replaceChildren(...shown.map(taskRow));
    count.textContent = `${shown.length} of ${tasks.length} tasks`;
    // The run form takes the shown tasks by id (its patterns); every task is its default anyway.
    const ids = shown.map((/** @type {any} */ t) => t.id);
    runThese.hidden = shown.length === 0 || shown.length === tasks.length;
    runThese.textContent = `Start a run on these ${shown.length} tasks`;
    runThese.setAttribute("href", `#runs/${encodeURIComponent(ids.join(", "))}`);
  };
  for (const control of [search, ...selects]) control.addEventListener("input", filter);
  filter();
  root.replaceChildren(
    h("h2", null, "Catalogue ", h("span", { class: "muted" }, `version ${catalogueVersion}, ${tasks.length} tasks`)),
    h("div", { class: "row", id: "filter", role: "search" }, search, selects, count, runThese),
    h(
      "table",
      { id: "tasks" },
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
}

/** @param {any} t */
function taskRow(t) {
  const kb = (/** @type {number} */ b) => `${(b / 1024).toFixed(0)} KB`;
  return h(
    "tr",
    { "data-task": t.id },
    [
      t.id,
      t.application ?? "",
      t.language ?? "",
      t.modelId,
      t.rank,
      kb(t.bytes),
      t.examples.fewshot,
      t.examples.test,
    ].map((v) => h("td", null, v)),
  );
}
