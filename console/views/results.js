// @ts-check
/** What each storage budget costs in quality: the committed experiment (docs/results.json). */
import { lineChart } from "../charts.js";
import { h } from "../dom.js";

const METHODS = [
  ["d2c", "D2C", "#16a34a"],
  ["kmeans", "K-means", "#2563eb"],
  ["random", "random", "#dc2626"],
];

/** @param {HTMLElement} root */
export async function renderResults(root) {
  /** @type {{ method: string, k: number, seed: number, meanExactMatch: number }[]} */
  const rows = await (await fetch("/v1/results")).json();
  const n = Math.max(...rows.filter((r) => r.method === "own").map((r) => r.k));
  const ks = [...new Set(rows.filter((r) => r.method === "d2c").map((r) => r.k))].sort((a, b) => a - b);
  const mean = (/** @type {string} */ m, /** @type {number} */ k) => {
    const xs = rows.filter((r) => r.method === m && r.k === k).map((r) => r.meanExactMatch);
    return (100 * xs.reduce((a, b) => a + b, 0)) / xs.length;
  };
  const own = mean("own", n),
    base = mean("base", 0);
  const series = METHODS.map(([m, name, colour]) => ({
    name,
    colour,
    points: ks.map((k) => /** @type {[number, number]} */ ([Math.log(k), mean(m, k)])),
  }));
  series.push(
    {
      name: "own LoRAs",
      colour: "#111",
      points: [
        [0, own],
        [Math.log(n), own],
      ],
    },
    {
      name: "base",
      colour: "#999",
      points: [
        [0, base],
        [Math.log(n), base],
      ],
    },
  );
  const storage = (/** @type {number} */ k) => `${((100 * k) / n).toFixed(1)}%`;
  root.replaceChildren(
    h("h2", null, "Score against storage"),
    h(
      "p",
      { class: "muted" },
      `Held-out exact match (%, mean over tasks and seeds) of each task under its cluster's merged adapter, ` +
        `by storage budget (K of ${n} adapters). From `,
      h("code", null, "npm run experiment"),
      "; see docs/results.md.",
    ),
    lineChart(series, {
      width: 620,
      height: 320,
      xLabel: "storage (log scale)",
      yLabel: "exact match (%)",
      yMin: 0,
      yMax: 100,
      xTicks: ks.map((k) => [Math.log(k), storage(k)]),
    }),
    h(
      "table",
      null,
      h(
        "tr",
        null,
        h("th", null, "K"),
        h("th", null, "storage"),
        METHODS.map(([, name]) => h("th", null, name)),
      ),
      ks.map((k) =>
        h(
          "tr",
          null,
          h("td", null, k),
          h("td", null, storage(k)),
          METHODS.map(([m]) => h("td", null, mean(m, k).toFixed(1))),
        ),
      ),
    ),
  );
}
