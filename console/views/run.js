// @ts-check
/** One run, live: progress, J per iteration, the loss heatmap of any iteration, where tasks went. */
import { api, esc, streamEvents } from "../api-client.js";
import { clusterColour, heatmap, lineChart, membershipGrid } from "../charts.js";

/** @param {HTMLElement} root @param {string} runId @param {AbortSignal} signal */
export async function renderRun(root, runId, signal) {
  const [{ tasks }, { profiles }] = await Promise.all([api("/v1/tasks"), api("/v1/profiles")]);
  /** @type {any} */
  let status = await api(`/v1/runs/${runId}`);
  let shown = -1; // iteration in the heatmap; -1 follows the newest
  root.innerHTML = `<h2>Run <code>${esc(runId)}</code></h2><div id="summary"></div>
    <div class="progress" title="units evaluated in this iteration"><div id="bar" style="width:0"></div></div>
    <div class="charts"><figure><figcaption>J (mean few-shot loss) per iteration</figcaption><div id="objective"></div></figure>
      <figure><figcaption>where tasks went (application x language)</figcaption><div id="membership"></div></figure></div>
    <h3>Loss heatmap: tasks x clusters <select id="iteration" aria-label="iteration"></select></h3>
    <p class=muted>Shaded per task: darkest is the cluster that serves the task best. The frame is the task's cluster, a white dot its best cluster where that differs (D2C moves it there).</p>
    <div id="heatmap"></div><h3>Clusters</h3><div id="clusters"></div><div id="actions"></div><div id="report"></div>`;
  const $ = (/** @type {string} */ id) => /** @type {HTMLElement} */ (root.querySelector(`#${id}`));
  const select = /** @type {HTMLSelectElement} */ ($("iteration"));
  select.addEventListener("change", () => {
    shown = Number(select.value);
    draw();
  });

  function draw() {
    const s = status;
    $("summary").innerHTML = `<p><span class="state ${esc(s.state)}" id="run-state">${esc(s.state)}</span> ${esc(s.method)}, K=${s.k}, merge ${esc(s.merge.method)},
      seed ${s.seed}; ${s.state === "running" ? `iteration ${s.iteration}, ${esc(s.phase)}` : `${s.iterations.length} iteration(s), ${(s.ms / 1000).toFixed(1)} s`}
      ${s.reason ? `<br><span class=muted>${esc(s.reason)}</span>` : ""}<br><span class=muted>cost: ${s.cost.units} evaluations (${s.cost.cacheHits} from the loss cache),
      ${s.cost.forwardPasses} forward passes; the naive schedule: ${s.cost.naiveUnits}</span></p>`;
    const done = s.iterations.filter((/** @type {any} */ i) => i.objective !== null);
    $("objective").innerHTML = done.length ? lineChart([{ name: "J", colour: "#2563eb", points: done.map((/** @type {any} */ i) => [i.iteration, i.objective]) }], { xLabel: "iteration", yLabel: "J" }) : "<p class=muted>no iteration evaluated yet</p>";
    const assignment = s.result?.assignment ?? s.iterations.at(-1)?.assignment ?? {};
    $("membership").innerHTML = membershipGrid(tasks.filter((/** @type {any} */ t) => s.tasks.includes(t.id)), assignment);
    select.innerHTML = s.iterations.map((/** @type {any} */ i) => `<option value="${i.iteration}">iteration ${i.iteration}</option>`).join("");
    const it = s.iterations[shown < 0 ? s.iterations.length - 1 : shown];
    if (it) select.value = String(it.iteration);
    $("heatmap").innerHTML = it && Object.values(it.losses).some((/** @type {any} */ row) => row.some((/** @type {any} */ v) => v !== null)) ? heatmap(s.tasks, it.losses, it.assignment) : "<p class=muted>no losses yet</p>";
    const clusters = s.result?.clusters ?? it?.clusters ?? [];
    $("clusters").innerHTML = `<table><tr><th>cluster</th><th>merged adapter</th><th>tasks served</th></tr>${clusters.map((/** @type {any} */ c) =>
      `<tr><td style="color:${clusterColour(c.cluster)}">${c.cluster}</td><td><code>${esc(c.sha256.slice(0, 12))}</code> ${(c.bytes / 1024).toFixed(0)} KB</td>
      <td>${Object.entries(assignment).filter(([, k]) => k === c.cluster).map(([t]) => esc(t)).join(" ")}</td></tr>`).join("")}</table>`;
    $("actions").innerHTML = s.state === "running" ? `<button id="cancel">Cancel run</button>`
      : s.state === "done" ? `<p><button id="held-out">Held-out report</button>
        <select id="profile" aria-label="profile">${profiles.map((/** @type {any} */ p) => `<option>${esc(p.id)}</option>`).join("")}</select>
        <button class="primary" id="publish" ${profiles.length ? "" : "disabled"}>Publish to profile</button></p>` : "";
    root.querySelector("#cancel")?.addEventListener("click", async () => {
      status = await api(`/v1/runs/${runId}/cancel`, { method: "POST" });
      draw();
    });
    root.querySelector("#held-out")?.addEventListener("click", async () => {
      $("report").innerHTML = "<p class=muted>Evaluating held-out examples...</p>";
      // The report is evaluated over the queue: POST starts it (202), GET follows it to the end.
      let report = await api(`/v1/runs/${runId}/report`, { method: "POST" });
      while (report.state === "running" && !signal.aborted) {
        $("report").innerHTML = `<p class=muted>Evaluating held-out examples: ${report.evaluated}/${report.total} tasks...</p>`;
        await new Promise((resolve) => setTimeout(resolve, 500));
        report = await api(`/v1/runs/${runId}/report`);
      }
      if (report.state !== "done") {
        $("report").replaceChildren(Object.assign(document.createElement("p"), { textContent: `Held-out report ${report.state}: ${report.reason ?? ""}` }));
        return;
      }
      $("report").innerHTML = `<h3>Held-out exact match: ${(100 * report.meanExactMatch).toFixed(1)}%</h3><table><tr><th>task</th><th>cluster</th><th>exact match</th><th>loss</th></tr>
        ${report.tasks.map((/** @type {any} */ t) => `<tr><td>${esc(t.task)}</td><td>${t.cluster}</td><td>${(100 * t.exactMatch).toFixed(0)}%</td><td>${t.loss.toFixed(3)}</td></tr>`).join("")}</table>`;
    });
    root.querySelector("#publish")?.addEventListener("click", async () => {
      const profile = /** @type {HTMLSelectElement} */ (root.querySelector("#profile")).value;
      const release = await api(`/v1/profiles/${profile}/releases`, { method: "POST", body: JSON.stringify({ runId }) });
      $("report").innerHTML = `<p id="published">Published release ${release.version} of profile <a href="#profiles">${esc(profile)}</a>.</p>`;
    });
  }

  draw();
  if (status.state !== "running") return;
  await streamEvents(`/v1/runs/${runId}/events`, async (type, data) => {
    if (type === "progress") {
      $("bar").style.width = `${(100 * data.evaluated) / data.units}%`;
      return;
    }
    status = await api(`/v1/runs/${runId}`);
    draw();
  }, signal).catch(() => undefined);
  status = await api(`/v1/runs/${runId}`);
  draw();
}
