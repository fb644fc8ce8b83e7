// @ts-check
import { api } from "../api-client.js";
import { h } from "../dom.js";

/** @param {HTMLElement} root */
export async function renderCatalogue(root) {
  const { tasks, catalogueVersion } = await api("/v1/tasks");
  const kb = (/** @type {number} */ b) => `${(b / 1024).toFixed(0)} KB`;
  const columns = ["task", "application", "language", "model", "rank", "adapter", "few-shot", "held-out"];
  root.replaceChildren(
    h("h2", null, "Catalogue ", h("span", { class: "muted" }, `version ${catalogueVersion}, ${tasks.length} tasks`)),
    h(
      "table",
      { id: "tasks" },
      h(
        "thead",
        null,
        h(
          "tr",
          null,
          columns.map((c) => h("th", null, c)),
        ),
      ),
      h(
        "tbody",
        null,
        tasks.map((/** @type {any} */ t) =>
          h(
            "tr",
            null,
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
          ),
        ),
      ),
    ),
  );
}
