// @ts-check
import { api, capabilities } from "../api-client.js";
import { h } from "../dom.js";

/** @param {string} name @param {string[]} options @param {string} chosen the server's default */
const select = (name, options, chosen) =>
  h(
    "select",
    { name },
    options.map((o) => h("option", { selected: o === chosen }, o)),
  );
/** @param {string} label @param {import("../dom.js").Attrs} attrs */
const number = (label, attrs) =>
  h("label", null, label, " ", h("input", { type: "number", min: 0, style: { width: "5em" }, ...attrs }));

/** Start a run; recent runs. @param {HTMLElement} root */
export async function renderRuns(root) {
  const [{ runs }, { profiles }, { tasks }, can] = await Promise.all([
    api("/v1/runs"),
    api("/v1/profiles"),
    api("/v1/tasks"),
    capabilities(),
  ]);
  const mergeMethods = can.mergeMethods.map((/** @type {{ name: string }} */ m) => m.name);
  const form = h(
    "form",
    { class: "inline", id: "start-run" },
    h(
      "label",
      null,
      "budget ",
      h(
        "select",
        { name: "budget" },
        h("option", { value: "k" }, "K adapters"),
        profiles.map((/** @type {any} */ p) => h("option", { value: `profile:${p.id}` }, `profile ${p.id}`)),
      ),
    ),
    number("K", { name: "k", min: 1, max: tasks.length, value: 5 }),
    h("label", null, "method ", select("method", can.runMethods, can.defaultRunMethod)),
    h("label", null, "merge ", select("merge", mergeMethods, can.defaultMergeMethod)),
    number("seed", { name: "seed", value: 0 }),
    number("max iterations", { name: "maxIterations", min: 1, max: 50, value: 10 }),
    // Empty: the server's default (4 starts up to 200 tasks, else 1).
    number("restarts", { name: "restarts", min: 1, max: 16, placeholder: "auto" }),
    h("button", { class: "primary", type: "submit" }, "Start run"),
  );
  root.replaceChildren(
    h("h2", null, "Clustering runs"),
    form,
    h(
      "table",
      null,
      h(
        "thead",
        null,
        h(
          "tr",
          null,
          ["run", "started", "method", "K", "tasks", "profile"].map((c) => h("th", null, c)),
        ),
      ),
      h(
        "tbody",
        null,
        runs.map((/** @type {any} */ r) =>
          h(
            "tr",
            null,
            h("td", null, h("a", { href: `#run/${r.runId}` }, r.runId.slice(4, 12))),
            [new Date(r.createdAt).toLocaleString(), r.method, r.k, r.tasks, r.profile ?? ""].map((v) =>
              h("td", null, v),
            ),
          ),
        ),
      ),
    ),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const f = new FormData(form);
    const budget = String(f.get("budget"));
    const method = String(f.get("method"));
    const restarts = String(f.get("restarts") ?? "");
    const body = {
      ...(restarts ? { restarts: Number(restarts) } : {}),
      method,
      seed: Number(f.get("seed")),
      maxIterations: Number(f.get("maxIterations")),
      merge: { method: String(f.get("merge")) },
      ...(method === "merge-all" || method === "own"
        ? {}
        : budget === "k"
          ? { k: Number(f.get("k")) }
          : { profile: budget.slice("profile:".length) }),
    };
    // A refused run: api() has shown the server's message.
    const started = await api("/v1/runs", { method: "POST", body: JSON.stringify(body) }).catch(() => null);
    if (started) location.hash = `#run/${started.runId}`;
  });
}
