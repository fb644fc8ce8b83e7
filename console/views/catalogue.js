// @ts-check
import { api, esc } from "../api-client.js";

/** @param {HTMLElement} root */
export async function renderCatalogue(root) {
  const { tasks, catalogueVersion } = await api("/v1/tasks");
  const kb = (/** @type {number} */ b) => `${(b / 1024).toFixed(0)} KB`;
  root.innerHTML = `<h2>Catalogue <span class=muted>version ${catalogueVersion}, ${tasks.length} tasks</span></h2>
    <table id="tasks"><thead><tr><th>task</th><th>application</th><th>language</th><th>model</th><th>rank</th><th>adapter</th><th>few-shot</th><th>held-out</th></tr></thead>
    <tbody>${tasks.map((/** @type {any} */ t) => `<tr><td>${esc(t.id)}</td><td>${esc(t.application ?? "")}</td><td>${esc(t.language ?? "")}</td>
      <td>${esc(t.modelId)}</td><td>${t.rank}</td><td>${kb(t.bytes)}</td><td>${t.examples.fewshot}</td><td>${t.examples.test}</td></tr>`).join("")}</tbody></table>`;
}
