// @ts-check
/** What each storage budget costs in quality: the committed experiment (docs/results.json). */
import { esc } from "../api-client.js";
import { lineChart } from "../charts.js";

const METHODS = [["d2c", "D2C", "#16a34a"], ["kmeans", "K-means", "#2563eb"], ["random", "random", "#dc2626"]];

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
  const own = mean("own", n), base = mean("base", 0);
  const series = METHODS.map(([m, name, colour]) => ({ name, colour, points: ks.map((k) => /** @type {[number, number]} */ ([Math.log(k), mean(m, k)])) }));
  series.push({ name: "own LoRAs", colour: "#111", points: [[0, own], [Math.log(n), own]] }, { name: "base", colour: "#999", points: [[0, base], [Math.log(n), base]] });
  root.innerHTML = `<h2>Score against storage</h2><p class=muted>Held-out exact match (%, mean over tasks and seeds) of each task under its cluster's merged adapter, by storage budget
    (K of ${n} adapters). From <code>npm run experiment</code>; see docs/results.md.</p>
    ${lineChart(series, { width: 620, height: 320, xLabel: "storage (log scale)", yLabel: "exact match (%)", yMin: 0, yMax: 100, xTicks: ks.map((k) => [Math.log(k), `${((100 * k) / n).toFixed(1)}%`]) })}
    <table><tr><th>K</th><th>storage</th>${METHODS.map(([, name]) => `<th>${esc(name)}</th>`).join("")}</tr>
    ${ks.map((k) => `<tr><td>${k}</td><td>${((100 * k) / n).toFixed(1)}%</td>${METHODS.map(([m]) => `<td>${mean(m, k).toFixed(1)}</td>`).join("")}</tr>`).join("")}</table>`;
}
