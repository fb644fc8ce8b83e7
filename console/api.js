// @ts-check
/** Renders the OpenAPI document (/openapi.json) as a readable reference: one block per route. */
import { h } from "./dom.js";

const doc = await (await fetch("/openapi.json")).json();
const root = /** @type {HTMLElement} */ (document.getElementById("reference"));

/** @param {any} schema */
function fields(schema) {
  if (!schema?.properties) return null;
  const required = new Set(schema.required ?? []);
  return h(
    "table",
    null,
    Object.entries(schema.properties).map(([name, s]) => {
      const p = /** @type {any} */ (s);
      const type = p.enum
        ? p.enum.map((/** @type {unknown} */ e) => JSON.stringify(e)).join(" | ")
        : (p.type ?? (p.anyOf ? "one of several" : ""));
      return h(
        "tr",
        null,
        h(
          "td",
          null,
          h("code", null, name),
          required.has(name) ? null : [" ", h("span", { class: "muted" }, "optional")],
        ),
        h("td", null, String(type)),
        h(
          "td",
          null,
          p.description ?? "",
          p.default !== undefined ? [" ", h("span", { class: "muted" }, `default ${JSON.stringify(p.default)}`)] : null,
        ),
      );
    }),
  );
}

root.replaceChildren(
  h("h2", null, `${doc.info.title} API`),
  h(
    "p",
    { class: "muted" },
    `${doc.info.description} The machine-readable document: `,
    h("a", { href: "/openapi.json" }, "/openapi.json"),
    ".",
  ),
  ...Object.entries(doc.paths).flatMap(([path, ops]) =>
    Object.entries(/** @type {Record<string, any>} */ (ops)).map(([method, op]) => {
      const content = op.requestBody?.content ?? {};
      const [type, body] = Object.entries(content)[0] ?? [];
      return h(
        "section",
        null,
        h(
          "h3",
          null,
          h("code", null, `${method.toUpperCase()} ${path}`),
          " ",
          h("span", { class: "state" }, op.security?.length ? "admin" : "device"),
        ),
        h("p", null, op.summary),
        op.parameters &&
          h(
            "p",
            { class: "muted" },
            "parameters: ",
            op.parameters.map((/** @type {any} */ p, /** @type {number} */ i) => [
              i ? ", " : "",
              h("code", null, p.name),
              ` (${p.in})`,
            ]),
          ),
        type && [h("p", { class: "muted" }, `body: ${type}`), fields(/** @type {any} */ (body).schema)],
        h(
          "p",
          { class: "muted" },
          `responses: ${Object.entries(op.responses)
            .map(([s, r]) => `${s} ${/** @type {any} */ (r).description}`)
            .join("; ")}`,
        ),
      );
    }),
  ),
);
