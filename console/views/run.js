// @ts-check
/** One run, live: progress, J per iteration, the loss heatmap of any iteration, where tasks went. */
import { api, capabilities, lossMatrix, streamEvents } from "../api-client.js";
import { clusterColour, heatmap, lineChart } from "../charts.js";
import { h, note } from "../dom.js";
import { membershipGrid } from "../membership.js";

/** @param {HTMLElement} root @param {string} runId @param {AbortSignal} signal */
export async function renderRun(root, runId, signal) {
  const [{ tasks }, { profiles }, can] = await Promise.all([api("/v1/tasks"), api("/v1/profiles"), capabilities()]);
  const unitWeight = unitWeightOf(can);
  /** @type {any} */
  let status = await api(`/v1/runs/${runId}`);
  let shown = -1; // iteration in the heatmap; -1 follows the newest
  let pickedCell = ""; // the membership grid's cell listed underneath, kept as the run redraws
  const part = (/** @type {string} */ id) => h("div", { id });
  const [summary, bar, objective, membership, heat, clustersPart, actions, report] = [
    "summary",
    "bar",
    "objective",
    "membership",
    "heatmap",
    "clusters",
    "actions",
    "report",
  ].map(part);
  bar.style.width = "0";
  const select = h("select", { id: "iteration", "aria-label": "iteration" });
  root.replaceChildren(
    h("h2", null, "Run ", h("code", null, runId)),
    summary,
    h("div", { class: "progress", title: "units evaluated in this iteration" }, bar),
    h(
      "div",
      { class: "charts" },
      h("figure", null, h("figcaption", null, "J (mean few-shot loss) per iteration"), objective),
      h(
        "figure",
        null,
        h("figcaption", null, "where tasks went (application x language; a cell lists its tasks)"),
        membership,
      ),
    ),
    h("h3", null, "Loss heatmap: tasks x clusters ", select),
    note(
      "Shaded per task: darkest is the cluster that serves the task best. The frame is the task's cluster, " +
        "a white dot its best cluster where that differs (D2C moves it there).",
    ),
    heat,
    h("h3", null, "Clusters"),
    clustersPart,
    actions,
    report,
  );
  select.addEventListener("change", () => {
    shown = Number(select.value);
    draw();
  });

  function draw() {
    const s = status;
    const estimate = s.cost.estimate;
    const cost = h(
      "span",
      { class: "muted", id: "run-cost" },
      `cost: ${s.cost.units} evaluations (${s.cost.cacheHits} from the loss cache), ${s.cost.forwardPasses} ` +
        `forward passes; the naive schedule: ${s.cost.naiveUnits}`,
      estimate && [
        h("br"),
        `${((s.cost.evaluationMs ?? 0) / 1000).toFixed(1)} s evaluation CPU, ${s.cost.messages} queue ` +
          `messages; on Cloudflare about `,
        h(
          "span",
          {
            title: estimate.lines
              .map(
                (/** @type {any} */ l) => `${l.item}: ${l.quantity.toPrecision(3)} ${l.unit}, $${l.usd.toPrecision(2)}`,
              )
              .join("\n"),
          },
          `$${estimate.usd.toPrecision(2)}`,
        ),
        ` (list prices of ${estimate.pricesRead})`,
      ],
    );
    summary.replaceChildren(
      h(
        "p",
        null,
        h("span", { class: `state ${s.state}`, id: "run-state" }, s.state),
        ` ${s.method}, K=${s.k}, merge ${s.merge.method}, seed ${s.seed}, evaluator ${s.evaluator ?? "wasm"}; `,
        s.state === "running"
          ? `iteration ${s.iteration}, ${s.phase}`
          : `${s.iterations.length} iteration(s), ${(s.ms / 1000).toFixed(1)} s`,
        s.reason && [h("br"), h("span", { class: "muted" }, s.reason)],
        h("br"),
        cost,
      ),
    );
    const done = s.iterations.filter((/** @type {any} */ i) => i.objective !== null);
    objective.replaceChildren(
      done.length
        ? lineChart(
            [{ name: "J", colour: "#2563eb", points: done.map((/** @type {any} */ i) => [i.iteration, i.objective]) }],
            { xLabel: "iteration", yLabel: "J" },
          )
        : note("no iteration evaluated yet"),
    );
    select.replaceChildren(
      ...s.iterations.map((/** @type {any} */ i) => h("option", { value: i.iteration }, `iteration ${i.iteration}`)),
    );
    const it = s.iterations[shown < 0 ? s.iterations.length - 1 : shown];
    if (it) select.value = String(it.iteration);
    if (s.result) drawClusters(s.result.assignment, s.result.clusters);
    void drawMatrix(it);
    if (s.state === "running") {
      actions.replaceChildren(h("button", { id: "cancel", onclick: cancel }, "Cancel run"));
    } else if (s.state === "done") {
      actions.replaceChildren(
        h(
          "p",
          null,
          h("button", { id: "held-out", onclick: heldOut }, "Held-out report"),
          " ",
          h(
            "select",
            { id: "profile", "aria-label": "profile" },
            profiles.map((/** @type {any} */ p) => h("option", null, p.id)),
          ),
          " ",
          h(
            "button",
            { class: "primary", id: "publish", disabled: !profiles.length, onclick: publish },
            "Publish to profile",
          ),
        ),
      );
    } else {
      actions.replaceChildren();
    }
  }

  /** @param {Record<string, number>} assignment @param {any[]} clusters */
  function drawClusters(assignment, clusters) {
    const inRun = new Set(status.tasks);
    membership.replaceChildren(
      membershipGrid(
        tasks.filter((/** @type {any} */ t) => inRun.has(t.id)),
        assignment,
        { picked: pickedCell, onPick: (cell) => (pickedCell = cell) },
      ),
    );
    if (status.result?.budget) return drawParts(status.result);
    const tuned = clusters.some((/** @type {any} */ c) => c.tuned);
    clustersPart.replaceChildren(
      h(
        "table",
        null,
        h(
          "tr",
          null,
          h("th", null, "cluster"),
          h("th", null, "merged adapter"),
          h("th", null, "tasks served"),
          tuned ? h("th", null, "tuned merge") : null,
        ),
        clusters.map((/** @type {any} */ c) =>
          h(
            "tr",
            null,
            h("td", { style: { color: clusterColour(c.cluster) } }, c.cluster),
            h("td", null, h("code", null, c.sha256.slice(0, 12)), ` ${(c.bytes / 1024).toFixed(0)} KB`),
            h(
              "td",
              null,
              Object.entries(assignment)
                .filter(([, k]) => k === c.cluster)
                .map(([t]) => t)
                .join(" "),
            ),
            tuned
              ? h("td", { class: "tuned" }, c.tuned ? tunedMerge(c, unitWeight) : "one task: its own adapter")
              : null,
          ),
        ),
      ),
    );
  }

  /**
   * An alloc run's result: the budget used, then each task's part (or the base model), its bytes and
   * few-shot loss. @param {any} result
   */
  function drawParts(result) {
    const { bytes, maxBytes } = result.budget;
    clustersPart.replaceChildren(
      h(
        "p",
        { id: "parts-budget" },
        `${bytes} of ${maxBytes} bytes (${((100 * bytes) / maxBytes).toFixed(1)}%), ` +
          `${result.clusters.filter((/** @type {any} */ c) => c.part).length} of ${result.clusters.length} ` +
          `tasks with a part`,
      ),
      h(
        "table",
        { id: "parts" },
        h(
          "tr",
          null,
          ["task", "part", "bytes", "few-shot loss"].map((t) => h("th", null, t)),
        ),
        result.clusters.map((/** @type {any} */ c) =>
          h(
            "tr",
            null,
            h("td", null, c.tasks[0]),
            h("td", null, c.part ? `rank ${c.part.rank} ${c.part.dtype}` : "base model"),
            h("td", null, String(c.bytes)),
            h("td", null, result.taskLoss[c.tasks[0]].toFixed(4)),
          ),
        ),
      ),
    );
  }

  /** The last matrix drawn, by iteration and units evaluated: unchanged, it is not fetched again. */
  let drawnMatrix = "";

  /**
   * The heatmap of one iteration, fetched a page of tasks at a time (the run's summary leaves the matrix out). @param
   * {any} it
   */
  async function drawMatrix(it) {
    if (!it) return heat.replaceChildren(note("no losses yet"));
    const key = `${it.iteration}/${it.evaluated}`;
    if (key === drawnMatrix) return;
    drawnMatrix = key;
    const matrix = await lossMatrix(runId, it.iteration).catch(() => null);
    if (!matrix || drawnMatrix !== key || signal.aborted) return;
    heat.replaceChildren(
      Object.values(matrix.losses).some((row) => row.some((v) => v !== null))
        ? heatmap(status.tasks, matrix.losses, matrix.assignment)
        : note("no losses yet"),
    );
    if (!status.result) drawClusters(matrix.assignment, it.clusters);
  }

  // Each action the server refuses leaves the page as it was: api() has shown the server's message.
  async function cancel() {
    status = await api(`/v1/runs/${runId}/cancel`, { method: "POST" }).catch(() => status);
    draw();
  }

  async function heldOut() {
    report.replaceChildren(note("Evaluating held-out examples..."));
    // The report is evaluated over the queue: POST starts it (202), GET follows it to the end.
    let result = await api(`/v1/runs/${runId}/report`, { method: "POST" }).catch(() => null);
    while (result?.state === "running" && !signal.aborted) {
      report.replaceChildren(note(`Evaluating held-out examples: ${result.evaluated}/${result.total} tasks...`));
      await new Promise((resolve) => setTimeout(resolve, 500));
      result = await api(`/v1/runs/${runId}/report`).catch(() => null);
    }
    if (result?.state !== "done") {
      report.replaceChildren(
        h("p", null, result ? `Held-out report ${result.state}: ${result.reason ?? ""}` : "No held-out report."),
      );
      return;
    }
    report.replaceChildren(
      h("h3", null, `Held-out exact match: ${(100 * result.meanExactMatch).toFixed(1)}%`),
      h(
        "table",
        null,
        h(
          "tr",
          null,
          ["task", "cluster", "exact match", "loss"].map((c) => h("th", null, c)),
        ),
        result.tasks.map((/** @type {any} */ t) =>
          h(
            "tr",
            null,
            [t.task, t.cluster, `${(100 * t.exactMatch).toFixed(0)}%`, t.loss.toFixed(3)].map((v) => h("td", null, v)),
          ),
        ),
      ),
    );
  }

  async function publish() {
    const profile = /** @type {HTMLSelectElement} */ (root.querySelector("#profile")).value;
    const release = await api(`/v1/profiles/${encodeURIComponent(profile)}/releases`, {
      method: "POST",
      body: JSON.stringify({ runId }),
    }).catch(() => null);
    // `unchanged`: the profile's newest release already is this run, as asked; no version was made.
    if (release)
      report.replaceChildren(
        h(
          "p",
          { id: "published" },
          release.unchanged
            ? `Release ${release.version} of profile `
            : `Published release ${release.version} of profile `,
          h("a", { href: "#profiles" }, profile),
          release.unchanged ? " already is this run: nothing to publish." : ".",
        ),
      );
  }

  draw();
  if (status.state !== "running") return;
  await streamEvents(
    `/v1/runs/${runId}/events`,
    async (type, data) => {
      if (type === "progress") {
        bar.style.width = `${(100 * data.evaluated) / data.units}%`;
        return;
      }
      status = await api(`/v1/runs/${runId}`);
      draw();
    },
    signal,
  ).catch(() => undefined);
  status = await api(`/v1/runs/${runId}`);
  draw();
}

/**
 * A tuned cluster's merge: method, each task's weight as a bar (uniform is the mark at 1/n), and
 * the held-back losses the weights were kept on.
 * @param {any} c @param {(method: string, members: number) => number} unitWeight
 */
function tunedMerge(c, unitWeight) {
  const t = c.tuned;
  const widest = Math.max(...t.weights, 1 / t.weights.length);
  const scale = Number((t.weights[0] / unitWeight(t.merge.method, t.weights.length)).toFixed(3));
  return h(
    "div",
    null,
    h(
      "div",
      null,
      `${t.merge.method}${t.merge.density === undefined ? "" : ` density ${t.merge.density}`}, ` +
        (t.weightsKept
          ? "tuned weights"
          : `uniform weights x ${scale} (screened; CMA-ES's weights lost on held-back examples)`),
    ),
    h(
      "table",
      { class: "weights" },
      c.tasks.map((/** @type {string} */ task, /** @type {number} */ i) =>
        h(
          "tr",
          null,
          h("td", null, task),
          h("td", null, h("span", { class: "weight-bar", style: { width: `${(100 * t.weights[i]) / widest}px` } })),
          h("td", null, t.weights[i].toFixed(3)),
        ),
      ),
    ),
    note(
      `held-back loss ${t.heldBackScreened.toFixed(4)} screened, ${t.heldBackTuned.toFixed(4)} with CMA-ES's ` +
        `weights; ${t.candidates} candidate merges`,
    ),
  );
}

/**
 * A member's weight before scaling, as the tuning screens it (src/tuning/screen.ts), from each merge
 * method's unitWeight in GET /v1/capabilities: 1 where TIES's disjoint mean divides by itself, else 1/n.
 * @param {{ mergeMethods: { name: string, unitWeight: string }[] }} can
 * @returns {(method: string, members: number) => number}
 */
const unitWeightOf = (can) => (method, members) =>
  can.mergeMethods.find((m) => m.name === method)?.unitWeight === "1" ? 1 : 1 / members;
