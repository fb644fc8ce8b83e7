// @ts-check
/** Device profiles and their releases: rollout of the newest, rollback to any earlier one. */
import { api, esc } from "../api-client.js";

/** @param {HTMLElement} root */
export async function renderProfiles(root) {
  const [{ profiles }, { tasks }] = await Promise.all([api("/v1/profiles"), api("/v1/tasks")]);
  const modelId = tasks[0]?.modelId ?? "";
  const histories = await Promise.all(profiles.map((/** @type {any} */ p) => api(`/v1/profiles/${p.id}/releases`)));
  root.innerHTML = `<h2>Device profiles</h2>
    <form class="inline" id="new-profile">
      <label>id <input name="id" required pattern="[a-z0-9][a-z0-9._-]*" style="width:9em"></label>
      <label>max adapters <input name="maxAdapters" type="number" min="1" value="5" style="width:5em"></label>
      <label>min RAM (MB) <input name="minRamMb" type="number" min="0" style="width:7em"></label>
      <label>formats <select name="formats"><option value="peft">PEFT</option><option value="peft,onnx_adapter">PEFT + .onnx_adapter</option></select></label>
      <label>auto re-cluster <input name="auto" type="checkbox"></label>
      <button type="submit">Save profile</button>
    </form>
    ${profiles.map((/** @type {any} */ p, i) => {
      const releases = histories[i].releases;
      const newest = releases[0];
      return `<section class="profile" data-profile="${esc(p.id)}"><h3>${esc(p.id)} <span class=muted>v${p.version}: ${esc(p.modelId)},
        ${p.budget.maxAdapters ? `${p.budget.maxAdapters} adapters` : ""} ${p.budget.maxBytes ? `${p.budget.maxBytes} bytes` : ""}, ${esc(p.dtype)}, ${esc(p.formats.join(" + "))},
        match ${esc(JSON.stringify(p.match))}${p.autoRecluster ? ", auto re-cluster" : ""}</span></h3>
        ${newest ? `<form class="inline rollout"><label>rollout of release ${newest.version} (%) <input name="percent" type="number" min="0" max="100" value="${newest.rollout}" style="width:5em"></label><button type="submit">Set rollout</button></form>` : "<p class=muted>no release yet: publish a finished run from its page</p>"}
        <table class="releases"><tr><th>version</th><th>created</th><th>rollout</th><th>kind</th><th>run</th><th>tasks</th><th>adapters</th><th>J</th><th></th></tr>
        ${releases.map((/** @type {any} */ r) => `<tr data-version="${r.version}"><td>${r.version}</td><td>${esc(new Date(r.createdAt).toLocaleString())}</td><td>${r.rollout}%</td>
          <td>${esc(r.kind)}${r.sourceVersion ? ` of ${r.sourceVersion}` : ""}</td><td><a href="#run/${esc(r.runId)}">${esc(r.runId.slice(4, 12))}</a></td><td>${r.tasks}</td><td>${r.adapters}</td>
          <td>${r.objective.toFixed(3)}</td><td>${r.version === newest.version ? "" : `<button class="rollback" data-version="${r.version}">Roll back to ${r.version}</button>`}</td></tr>`).join("")}</table></section>`;
    }).join("")}`;
  const form = /** @type {HTMLFormElement} */ (root.querySelector("#new-profile"));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const f = new FormData(form);
    const minRamMb = String(f.get("minRamMb") ?? "");
    await api(`/v1/profiles/${encodeURIComponent(String(f.get("id")))}`, { method: "PUT", body: JSON.stringify({
      modelId, budget: { maxAdapters: Number(f.get("maxAdapters")) }, formats: String(f.get("formats")).split(","),
      match: minRamMb ? { minRamMb: Number(minRamMb) } : {}, autoRecluster: f.get("auto") === "on",
    }) });
    await renderProfiles(root);
  });
  for (const section of root.querySelectorAll("section.profile")) {
    const id = /** @type {HTMLElement} */ (section).dataset.profile;
    section.querySelector("form.rollout")?.addEventListener("submit", async (event) => {
      event.preventDefault();
      const percent = Number(new FormData(/** @type {HTMLFormElement} */ (event.target)).get("percent"));
      await api(`/v1/profiles/${id}/rollout`, { method: "POST", body: JSON.stringify({ percent }) });
      await renderProfiles(root);
    });
    for (const button of section.querySelectorAll("button.rollback")) {
      button.addEventListener("click", async () => {
        const version = Number(/** @type {HTMLElement} */ (button).dataset.version);
        await api(`/v1/profiles/${id}/rollback`, { method: "POST", body: JSON.stringify({ version }) });
        await renderProfiles(root);
      });
    }
  }
}
