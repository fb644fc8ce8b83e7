// @ts-check
/**
 * Device profiles and their releases: rollout of the newest, rollback to any earlier one; the subset releases built per
 * device need.
 */
import { api, capabilities } from "../api-client.js";
import { h, note } from "../dom.js";
import { matchRules } from "../matchRules.js";

/** @param {HTMLElement} root */
export async function renderProfiles(root) {
  const [{ profiles }, { tasks }, can] = await Promise.all([api("/v1/profiles"), api("/v1/tasks"), capabilities()]);
  const modelId = tasks[0]?.modelId ?? "";
  const [histories, details] = await Promise.all([
    Promise.all(profiles.map((/** @type {any} */ p) => api(`/v1/profiles/${encodeURIComponent(p.id)}/releases`))),
    // Each profile's own GET carries its subset releases (per-device task sets).
    Promise.all(profiles.map((/** @type {any} */ p) => api(`/v1/profiles/${encodeURIComponent(p.id)}`))),
  ]);
  /**
   * A change, then the page again; one the server refused stays as it was (api() has shown why). @param {string} method
   * @param {string} path @param {unknown} body
   */
  const change = async (method, path, body) => {
    const ok = await api(path, { method, body: JSON.stringify(body) }).catch(() => null);
    if (ok) await renderProfiles(root);
  };

  const form = h(
    "form",
    { class: "inline", id: "new-profile" },
    h(
      "label",
      null,
      "id ",
      h("input", { name: "id", required: true, pattern: "[a-z0-9][a-z0-9._-]*", style: { width: "9em" } }),
    ),
    h(
      "label",
      null,
      "max adapters ",
      h("input", { name: "maxAdapters", type: "number", min: 1, value: 5, style: { width: "5em" } }),
    ),
    h(
      "label",
      null,
      "min RAM (MB) ",
      h("input", { name: "minRamMb", type: "number", min: 0, style: { width: "7em" } }),
    ),
    h(
      "label",
      null,
      "formats ",
      h(
        "select",
        { name: "formats" },
        formatChoices(can).map((f) => h("option", { value: f.join(",") }, f.join(" + "))),
      ),
    ),
    h("label", null, "auto re-cluster ", h("input", { name: "auto", type: "checkbox" })),
    h("button", { type: "submit" }, "Save profile"),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const f = new FormData(form);
    const minRamMb = String(f.get("minRamMb") ?? "");
    void change("PUT", `/v1/profiles/${encodeURIComponent(String(f.get("id")))}`, {
      modelId,
      budget: { maxAdapters: Number(f.get("maxAdapters")) },
      formats: String(f.get("formats")).split(","),
      match: minRamMb ? { minRamMb: Number(minRamMb) } : {},
      autoRecluster: f.get("auto") === "on",
    });
  });

  const sections = profiles.map((/** @type {any} */ p, /** @type {number} */ i) => {
    const releases = histories[i].releases;
    const newest = releases[0];
    const base = `/v1/profiles/${encodeURIComponent(p.id)}`;
    const budget = [
      p.budget.maxAdapters ? `${p.budget.maxAdapters} adapters` : "",
      p.budget.maxBytes ? `${p.budget.maxBytes} bytes` : "",
    ]
      .filter(Boolean)
      .join(" ");
    /** @type {HTMLElement} */
    let rollout = note("no release yet: publish a finished run from its page");
    if (newest) {
      rollout = h(
        "form",
        { class: "inline rollout" },
        h(
          "label",
          null,
          `rollout of release ${newest.version} (%) `,
          h("input", {
            name: "percent",
            type: "number",
            min: 0,
            max: 100,
            value: newest.rollout,
            style: { width: "5em" },
          }),
        ),
        h("button", { type: "submit" }, "Set rollout"),
      );
      rollout.addEventListener("submit", (event) => {
        event.preventDefault();
        void change("POST", `${base}/rollout`, {
          percent: Number(new FormData(/** @type {HTMLFormElement} */ (event.target)).get("percent")),
        });
      });
    }
    const columns = ["version", "created", "rollout", "kind", "run", "tasks", "adapters", "J", ""];
    const rules = matchRules(p.match);
    return h(
      "section",
      { class: "profile", "data-profile": p.id },
      h(
        "h3",
        null,
        p.id,
        " ",
        h(
          "span",
          { class: "muted" },
          `v${p.version}: ${p.modelId}, ${budget}, ${p.dtype}, ${p.formats.join(" + ")}` +
            `${p.autoRecluster ? ", auto re-cluster" : ""}`,
        ),
      ),
      h(
        "p",
        { class: "match" },
        "Serves ",
        rules.length
          ? ["devices with ", rules.map((rule, i) => [i ? " and " : "", h("span", { class: "rule" }, rule)])]
          : "every device (no match rules)",
      ),
      rollout,
      h(
        "table",
        { class: "releases" },
        h(
          "tr",
          null,
          columns.map((c) => h("th", null, c)),
        ),
        releases.map((/** @type {any} */ r) =>
          h(
            "tr",
            { "data-version": r.version },
            [
              r.version,
              new Date(r.createdAt).toLocaleString(),
              `${r.rollout}%`,
              `${r.kind}${r.sourceVersion ? ` of ${r.sourceVersion}` : ""}`,
            ].map((v) => h("td", null, v)),
            h("td", null, h("a", { href: `#run/${r.runId}` }, r.runId.slice(4, 12))),
            [r.tasks, adapterCount(r), r.objective.toFixed(3)].map((v) => h("td", null, v)),
            h(
              "td",
              null,
              r.version === newest.version
                ? null
                : h(
                    "button",
                    {
                      class: "rollback",
                      "data-version": r.version,
                      onclick: () => void change("POST", `${base}/rollback`, { version: r.version }),
                    },
                    `Roll back to ${r.version}`,
                  ),
            ),
          ),
        ),
      ),
      subsetSection(details[i].subsets, details[i].subsetsTotal),
    );
  });
  root.replaceChildren(h("h2", null, "Device profiles"), form, ...sections);
}

/**
 * A release's merged adapters, and its blobs where they differ (one per adapter and format), as
 * the CLI's `releases` states them: "5 adapters (10 blobs)". @param {{ adapters: number, clusters: unknown[] }} r
 */
function adapterCount(r) {
  const adapters = `${r.clusters.length} ${r.clusters.length === 1 ? "adapter" : "adapters"}`;
  return r.adapters === r.clusters.length ? adapters : `${adapters} (${r.adapters} blobs)`;
}

/**
 * The format lists the form offers (it sets maxAdapters): the server's default, then the default
 * with each other format that ships beside it and counts adapters (GET /v1/capabilities).
 * @param {{ defaultFormats: string[], formats: { name: string, alone: boolean, budgets: string[] }[] }} can
 */
function formatChoices(can) {
  const beside = can.formats.filter(
    (f) => !f.alone && f.budgets.includes("maxAdapters") && !can.defaultFormats.includes(f.name),
  );
  return [can.defaultFormats, ...beside.map((f) => [...can.defaultFormats, f.name])];
}

/**
 * The profile's subset releases: one row per need a device stated (locales + apps). A Worker from
 * before per-device task sets answers without `subsets`, which reads as none.
 * @param {import("../../src/delivery/subsetView.ts").SubsetView[] | undefined} subsets the first
 * page, most recently requested first
 * @param {number | undefined} total how many the profile has
 */
function subsetSection(subsets, total) {
  const title = h("h4", null, "Per-device task sets");
  if (!subsets?.length)
    return h(
      "div",
      { class: "subsets" },
      title,
      note("no subset releases: every device gets the profile-wide release until one states its locales or apps"),
    );
  const columns = ["need", "tasks", "state", "version", "networks", "last requested", "held-out exact match"];
  const more =
    total !== undefined && total > subsets.length
      ? note(`the ${subsets.length} most recently requested of ${total}; all: npx d2c-edge subsets <profile>`)
      : null;
  return h(
    "div",
    { class: "subsets" },
    title,
    more,
    h(
      "table",
      { class: "subsets" },
      h(
        "tr",
        null,
        columns.map((c) => h("th", null, c)),
      ),
      subsets.map((s) =>
        h(
          "tr",
          { "data-subset": s.key },
          h("td", { title: `key ${s.key}` }, s.taskSet ? `task set ${s.taskSet}` : need(s.locales, s.apps)),
          h("td", { title: s.tasks.join("\n") }, s.tasks.length),
          h("td", null, h("span", { class: `state ${s.state}`, title: s.outcome ?? undefined }, s.state)),
          h("td", null, s.release ? s.release.version : "—"),
          // Demand: distinct networks over 7 days, what the bound ranks by; the tooltip counts the edge's reports.
          h("td", { title: `${s.requests} ${s.requests === 1 ? "report" : "reports"}` }, s.demand),
          h("td", { title: s.lastRequestedAt }, ago(s.lastRequestedAt)),
          h("td", null, s.heldOutExactMatch === null ? "—" : `${(100 * s.heldOutExactMatch).toFixed(1)}%`),
        ),
      ),
    ),
  );
}

/** @param {readonly string[]} locales @param {readonly string[]} apps */
const need = (locales, apps) => [locales.join(", "), apps.join(", ")].filter(Boolean).join(" + ") || "—";

/** How long ago, in the largest whole unit (the exact time is the cell's tooltip). @param {string} iso */
function ago(iso) {
  const seconds = Math.max(0, (Date.now() - Date.parse(iso)) / 1000);
  if (!Number.isFinite(seconds)) return iso;
  for (const [unit, size] of /** @type {const} */ ([
    ["d", 86400],
    ["h", 3600],
    ["min", 60],
  ])) {
    if (seconds >= size) return `${Math.floor(seconds / size)} ${unit} ago`;
  }
  return "just now";
}
