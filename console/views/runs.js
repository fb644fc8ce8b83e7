// @ts-check
import { api, esc } from "../api-client.js";

/** Start a run; recent runs. @param {HTMLElement} root */
export async function renderRuns(root) {
  const [{ runs }, { profiles }, { tasks }] = await Promise.all([api("/v1/runs"), api("/v1/profiles"), api("/v1/tasks")]);
  root.innerHTML = `<h2>Clustering runs</h2>
    <form class="inline" id="start-run">
      <label>budget <select name="budget"><option value="k">K adapters</option>${profiles.map((/** @type {any} */ p) => `<option value="profile:${esc(p.id)}">profile ${esc(p.id)}</option>`).join("")}</select></label>
      <label>K <input name="k" type="number" min="1" max="${tasks.length}" value="5" style="width:5em"></label>
      <label>method <select name="method"><option>d2c</option><option>kmeans</option><option>random</option><option>merge-all</option></select></label>
      <label>merge <select name="merge"><option>svd</option><option>ties_svd</option><option>magnitude_prune_svd</option><option>dare_ties_svd</option><option>linear</option><option>cat</option></select></label>
      <label>seed <input name="seed" type="number" min="0" value="0" style="width:5em"></label>
      <label>max iterations <input name="maxIterations" type="number" min="1" max="50" value="10" style="width:5em"></label>
      <button class="primary" type="submit">Start run</button>
    </form>
    <table><thead><tr><th>run</th><th>started</th><th>method</th><th>K</th><th>tasks</th><th>profile</th></tr></thead>
    <tbody>${runs.map((/** @type {any} */ r) => `<tr><td><a href="#run/${esc(r.runId)}">${esc(r.runId.slice(4, 12))}</a></td><td>${esc(new Date(r.createdAt).toLocaleString())}</td>
      <td>${esc(r.method)}</td><td>${r.k}</td><td>${r.tasks}</td><td>${esc(r.profile ?? "")}</td></tr>`).join("")}</tbody></table>`;
  const form = /** @type {HTMLFormElement} */ (root.querySelector("#start-run"));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const f = new FormData(form);
    const budget = String(f.get("budget"));
    const method = String(f.get("method"));
    const body = {
      method, seed: Number(f.get("seed")), maxIterations: Number(f.get("maxIterations")), merge: { method: String(f.get("merge")) },
      ...(method === "merge-all" ? {} : budget === "k" ? { k: Number(f.get("k")) } : { profile: budget.slice("profile:".length) }),
    };
    const { runId } = await api("/v1/runs", { method: "POST", body: JSON.stringify(body) });
    location.hash = `#run/${runId}`;
  });
}
