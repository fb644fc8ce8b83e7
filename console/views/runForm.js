// @ts-check
/**
 * The form that starts a run (POST /v1/runs). Its choices are the Worker's: run and merge methods and
 * each merge method's parameters from GET /v1/capabilities, the restart criteria and merge tuning's
 * knobs (bounds, defaults) from the request's own schema in /openapi.json. The console keeps no list.
 */
import { api, showError } from "../api-client.js";
import { h } from "../dom.js";
import { chooseTasks } from "../taskPatterns.js";

/** Task ids the preview names before it says how many more. */
const PREVIEWED = 12;

/**
 * @param {{ profiles: any[], tasks: any[], can: any, schema: any, preset?: string }} from what the
 * Worker offers; `preset`: task patterns to start with (the catalogue's "run these")
 */
export function runForm({ profiles, tasks, can, schema, preset = "" }) {
  const ids = tasks.map((/** @type {any} */ t) => t.id);
  const tuneSchema = schema.properties.merge.properties.tune.properties;
  const mergeSelect = select(
    "merge",
    can.mergeMethods.map((/** @type {{ name: string }} */ m) => m.name),
    can.defaultMergeMethod,
  );
  const mergeParameters = h("span", { class: "params", id: "merge-parameters" });
  const showParameters = () => mergeParameters.replaceChildren(...parameterFields(can, mergeSelect.value));
  mergeSelect.addEventListener("change", showParameters);
  showParameters();
  const taskInput = h("input", {
    name: "tasks",
    value: preset,
    placeholder: "every task (e.g. qa-*, gec-de, !qa-ja)",
    style: { width: "28em" },
  });
  const preview = h("span", { class: "muted", id: "task-preview" });
  const showChosen = () => preview.replaceChildren(chosenText(chooseTasks(taskInput.value, ids), ids.length));
  taskInput.addEventListener("input", showChosen);
  showChosen();
  const form = h(
    "form",
    { id: "start-run" },
    h(
      "div",
      { class: "row" },
      h(
        "label",
        null,
        "budget ",
        h(
          "select",
          { name: "budget" },
          h("option", { value: "k" }, "K adapters"),
          profiles.map((p) => h("option", { value: `profile:${p.id}` }, `profile ${p.id}`)),
        ),
      ),
      number("K", { name: "k", min: 1, max: tasks.length, value: 5 }),
      h("label", null, "method ", select("method", can.runMethods, can.defaultRunMethod)),
      h("label", null, "merge ", mergeSelect),
      mergeParameters,
      number("seed", { name: "seed", max: schema.properties.seed.maximum, value: schema.properties.seed.default }),
      number("max iterations", {
        name: "maxIterations",
        min: schema.properties.maxIterations.minimum,
        max: schema.properties.maxIterations.maximum,
        value: schema.properties.maxIterations.default,
      }),
    ),
    h("div", { class: "row" }, h("label", null, "tasks ", taskInput), preview),
    h(
      "div",
      { class: "row" },
      // Empty: the server's default (it depends on how many tasks the run takes).
      number("restarts", { name: "restarts", min: 1, max: schema.properties.restarts.maximum, placeholder: "auto" }),
      h(
        "label",
        null,
        "keep the restart with ",
        select("restartCriterion", schema.properties.restartCriterion.enum, schema.properties.restartCriterion.default),
      ),
    ),
    h(
      "fieldset",
      { id: "tune" },
      h("legend", null, h("label", null, h("input", { type: "checkbox", name: "tune" }), " tune each cluster's merge")),
      h(
        "div",
        { class: "row" },
        // Named tune.<knob>: the tune budget is not the run's budget.
        Object.entries(tuneSchema).map(([name, p]) =>
          h("label", { title: p.description }, name, " ", control(`tune.${name}`, p)),
        ),
      ),
    ),
    h("button", { class: "primary", type: "submit" }, "Start run"),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = requestOf(new FormData(form), chooseTasks(taskInput.value, ids), can, tuneSchema);
    if (typeof body === "string") return showError(`start run: ${body}`);
    // A refused run: api() has shown the server's message.
    const started = await api("/v1/runs", { method: "POST", body: JSON.stringify(body) }).catch(() => null);
    if (started) location.hash = `#run/${started.runId}`;
  });
  return form;
}

/**
 * The request the form states, or what is wrong with it.
 * @param {FormData} f @param {ReturnType<typeof chooseTasks>} chosen
 * @param {any} can @param {Record<string, any>} tuneSchema
 * @returns {Record<string, unknown> | string}
 */
function requestOf(f, chosen, can, tuneSchema) {
  if (chosen.unmatched.length) return `no task matches ${chosen.unmatched.join(", ")}`;
  if (!chosen.all && chosen.chosen.length === 0) return "the patterns leave no task";
  const budget = String(f.get("budget"));
  const method = String(f.get("method"));
  const mergeMethod = String(f.get("merge"));
  /** @type {Record<string, unknown>} */
  const merge = { method: mergeMethod };
  for (const p of requestParameters(can, mergeMethod)) {
    const value = String(f.get(`merge.${p.name}`) ?? "");
    if (value !== "") merge[p.name] = Number(value);
  }
  if (f.get("tune") === "on") {
    /** @type {Record<string, unknown>} */
    const tune = {};
    for (const [name, p] of Object.entries(tuneSchema)) {
      const value = knobValue(f, `tune.${name}`, p);
      if (typeof value === "string") return `tune ${name}: ${value}`;
      if (value !== undefined) tune[name] = value;
    }
    merge.tune = tune;
  }
  const restarts = String(f.get("restarts") ?? "");
  return {
    method,
    seed: Number(f.get("seed")),
    maxIterations: Number(f.get("maxIterations")),
    merge,
    ...(restarts ? { restarts: Number(restarts) } : {}),
    restartCriterion: String(f.get("restartCriterion")),
    ...(chosen.all ? {} : { tasks: chosen.chosen }),
    ...(method === "merge-all" || method === "own"
      ? {}
      : budget === "k"
        ? { k: Number(f.get("k")) }
        : { profile: budget.slice("profile:".length) }),
  };
}

/** @param {string} name @param {readonly string[]} options @param {string} chosen the server's default */
const select = (name, options, chosen) =>
  h(
    "select",
    { name },
    options.map((o) => h("option", { selected: o === chosen }, o)),
  );
/** @param {string} label @param {import("../dom.js").Attrs} attrs */
const number = (label, attrs) =>
  h("label", null, label, " ", h("input", { type: "number", min: 0, style: { width: "5em" }, ...attrs }));

/** The merge method's parameters a request sets (a "run" one, such as seed, follows the run's own field). */
const requestParameters = (/** @type {any} */ can, /** @type {string} */ method) =>
  (can.mergeMethods.find((/** @type {any} */ m) => m.name === method)?.parameters ?? []).filter(
    (/** @type {any} */ p) => p.source === "request",
  );

/**
 * An input per request parameter of the merge method, empty for its default.
 * @param {any} can @param {string} method
 */
function parameterFields(can, method) {
  return requestParameters(can, method).map((/** @type {any} */ p) =>
    h(
      "label",
      { title: `${p.description}; ${p.range}` },
      p.name,
      " ",
      h("input", {
        type: "number",
        name: `merge.${p.name}`,
        min: p.min,
        max: p.max,
        step: p.type === "integer" ? 1 : "any",
        placeholder: p.default ?? "auto",
        style: { width: "5em" },
      }),
    ),
  );
}

/**
 * An input for one property of the request's schema: a checkbox for a boolean (at its default), a
 * comma-separated list for an array of numbers, else a number; empty means the schema's default.
 * @param {string} name @param {any} p
 */
function control(name, p) {
  if (p.type === "boolean") return h("input", { type: "checkbox", name, checked: p.default === true });
  if (p.type === "array")
    return h("input", { name, placeholder: (p.default ?? []).join(", ") || "none", style: { width: "8em" } });
  return h("input", {
    type: "number",
    name,
    min: p.minimum ?? p.exclusiveMinimum,
    max: p.maximum,
    step: p.type === "integer" ? 1 : "any",
    placeholder: p.default ?? "",
    style: { width: "5em" },
  });
}

/**
 * A property's value from the form: undefined for its default, a string saying what is wrong.
 * @param {FormData} f @param {string} name @param {any} p
 * @returns {unknown}
 */
function knobValue(f, name, p) {
  if (p.type === "boolean") return f.get(name) === "on";
  const text = String(f.get(name) ?? "").trim();
  if (text === "") return undefined;
  if (p.type !== "array") return Number(text);
  const values = text
    .split(/[\s,]+/)
    .filter(Boolean)
    .map(Number);
  return values.some((v) => !Number.isFinite(v)) ? `${JSON.stringify(text)} is not a list of numbers` : values;
}

/**
 * What the task patterns choose, as the preview says it.
 * @param {ReturnType<typeof chooseTasks>} chosen @param {number} total
 */
function chosenText({ chosen, unmatched, all }, total) {
  if (unmatched.length) return h("span", { class: "bad" }, `no task matches ${unmatched.join(", ")}`);
  if (all) return `every task with few-shot examples (${total} in the catalogue)`;
  const more = chosen.length > PREVIEWED ? ` and ${chosen.length - PREVIEWED} more` : "";
  return h(
    "span",
    { title: chosen.join("\n") },
    `${chosen.length} of ${total} tasks: ${chosen.slice(0, PREVIEWED).join(" ")}${more}`,
  );
}
