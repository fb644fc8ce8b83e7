// @ts-check
/** Renders the OpenAPI document (/openapi.json) as a readable reference: one block per route. */
const doc = await (await fetch("/openapi.json")).json();
const root = /** @type {HTMLElement} */ (document.getElementById("reference"));
const esc = (/** @type {string} */ s) => s.replace(/[&<>"]/g, (c) => `&#${c.charCodeAt(0)};`);

/** @param {any} schema */
function fields(schema) {
  if (!schema?.properties) return "";
  const required = new Set(schema.required ?? []);
  const rows = Object.entries(schema.properties).map(([name, s]) => {
    const p = /** @type {any} */ (s);
    const type = p.enum ? p.enum.map((/** @type {unknown} */ e) => JSON.stringify(e)).join(" | ") : p.type ?? (p.anyOf ? "one of several" : "");
    return `<tr><td><code>${esc(name)}</code>${required.has(name) ? "" : " <span class=muted>optional</span>"}</td><td>${esc(String(type))}</td><td>${esc(p.description ?? "")}${p.default !== undefined ? ` <span class=muted>default ${esc(JSON.stringify(p.default))}</span>` : ""}</td></tr>`;
  });
  return `<table>${rows.join("")}</table>`;
}

root.innerHTML = `<h2>${esc(doc.info.title)} API</h2><p class=muted>${esc(doc.info.description)} The machine-readable document: <a href="/openapi.json">/openapi.json</a>.</p>` +
  Object.entries(doc.paths).map(([path, ops]) => Object.entries(/** @type {Record<string, any>} */ (ops)).map(([method, op]) => {
    const content = op.requestBody?.content ?? {};
    const [type, body] = Object.entries(content)[0] ?? [];
    return `<section><h3><code>${method.toUpperCase()} ${esc(path)}</code> ${op.security?.length ? "<span class=state>admin</span>" : "<span class=state>device</span>"}</h3>
      <p>${esc(op.summary)}</p>
      ${op.parameters ? `<p class=muted>parameters: ${op.parameters.map((/** @type {any} */ p) => `<code>${esc(p.name)}</code> (${p.in})`).join(", ")}</p>` : ""}
      ${type ? `<p class=muted>body: ${esc(String(type))}</p>${fields(/** @type {any} */ (body).schema)}` : ""}
      <p class=muted>responses: ${Object.entries(op.responses).map(([s, r]) => `${s} ${esc(/** @type {any} */ (r).description)}`).join("; ")}</p></section>`;
  }).join("")).join("");
