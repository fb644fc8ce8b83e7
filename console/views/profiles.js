// @ts-check
/** Device profiles and their releases: rollout of the newest, rollback to any earlier one. */
import { api } from "../api-client.js";
import { h, note } from "../dom.js";

/** @param {HTMLElement} root */
export async function renderProfiles(root) {
  const [{ profiles }, { tasks }] = await Promise.all([api("/v1/profiles"), api("/v1/tasks")]);
  const modelId = tasks[0]?.modelId ?? "";
  const histories = await Promise.all(profiles.map((/** @type {any} */ p) => api(`/v1/profiles/${encodeURIComponent(p.id)}/releases`)));
  /** A change, then the page again; one the server refused stays as it was (api() has shown why). @param {string} method @param {string} path @param {unknown} body */
  const change = async (method, path, body) => {
    const ok = await api(path, { method, body: JSON.stringify(body) }).catch(() => null);
    if (ok) await renderProfiles(root);
  };

  const form = h("form", { class: "inline", id: "new-profile" },
    h("label", null, "id ", h("input", { name: "id", required: true, pattern: "[a-z0-9][a-z0-9._-]*", style: { width: "9em" } })),
    h("label", null, "max adapters ", h("input", { name: "maxAdapters", type: "number", min: 1, value: 5, style: { width: "5em" } })),
    h("label", null, "min RAM (MB) ", h("input", { name: "minRamMb", type: "number", min: 0, style: { width: "7em" } })),
    h("label", null, "formats ", h("select", { name: "formats" }, h("option", { value: "peft" }, "PEFT"), h("option", { value: "peft,onnx_adapter" }, "PEFT + .onnx_adapter"))),
    h("label", null, "auto re-cluster ", h("input", { name: "auto", type: "checkbox" })),
    h("button", { type: "submit" }, "Save profile"));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const f = new FormData(form);
    const minRamMb = String(f.get("minRamMb") ?? "");
    void change("PUT", `/v1/profiles/${encodeURIComponent(String(f.get("id")))}`, {
      modelId, budget: { maxAdapters: Number(f.get("maxAdapters")) }, formats: String(f.get("formats")).split(","),
      match: minRamMb ? { minRamMb: Number(minRamMb) } : {}, autoRecluster: f.get("auto") === "on",
    });
  });

  const sections = profiles.map((/** @type {any} */ p, /** @type {number} */ i) => {
    const releases = histories[i].releases;
    const newest = releases[0];
    const base = `/v1/profiles/${encodeURIComponent(p.id)}`;
    const budget = [p.budget.maxAdapters ? `${p.budget.maxAdapters} adapters` : "", p.budget.maxBytes ? `${p.budget.maxBytes} bytes` : ""].filter(Boolean).join(" ");
    /** @type {HTMLElement} */
    let rollout = note("no release yet: publish a finished run from its page");
    if (newest) {
      rollout = h("form", { class: "inline rollout" },
        h("label", null, `rollout of release ${newest.version} (%) `, h("input", { name: "percent", type: "number", min: 0, max: 100, value: newest.rollout, style: { width: "5em" } })),
        h("button", { type: "submit" }, "Set rollout"));
      rollout.addEventListener("submit", (event) => {
        event.preventDefault();
        void change("POST", `${base}/rollout`, { percent: Number(new FormData(/** @type {HTMLFormElement} */ (event.target)).get("percent")) });
      });
    }
    const columns = ["version", "created", "rollout", "kind", "run", "tasks", "adapters", "J", ""];
    return h("section", { class: "profile", "data-profile": p.id },
      h("h3", null, p.id, " ", h("span", { class: "muted" },
        `v${p.version}: ${p.modelId}, ${budget}, ${p.dtype}, ${p.formats.join(" + ")}, match ${JSON.stringify(p.match)}${p.autoRecluster ? ", auto re-cluster" : ""}`)),
      rollout,
      h("table", { class: "releases" },
        h("tr", null, columns.map((c) => h("th", null, c))),
        releases.map((/** @type {any} */ r) => h("tr", { "data-version": r.version },
          [r.version, new Date(r.createdAt).toLocaleString(), `${r.rollout}%`, `${r.kind}${r.sourceVersion ? ` of ${r.sourceVersion}` : ""}`].map((v) => h("td", null, v)),
          h("td", null, h("a", { href: `#run/${r.runId}` }, r.runId.slice(4, 12))),
          [r.tasks, r.adapters, r.objective.toFixed(3)].map((v) => h("td", null, v)),
          h("td", null, r.version === newest.version ? null
            : h("button", { class: "rollback", "data-version": r.version, onclick: () => void change("POST", `${base}/rollback`, { version: r.version }) }, `Roll back to ${r.version}`))))));
  });
  root.replaceChildren(h("h2", null, "Device profiles"), form, ...sections);
}
