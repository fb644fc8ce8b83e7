// @ts-check
/** Small SVG charts drawn by hand as DOM elements: a line chart, a heatmap, a membership grid. No library needed. */
import { svg } from "./dom.js";

const PALETTE = ["#2563eb", "#dc2626", "#16a34a", "#d97706", "#7c3aed", "#0891b2", "#db2777", "#65a30d", "#9333ea", "#ea580c"];

/** @param {number} cluster */
export function clusterColour(cluster) {
  return cluster < PALETTE.length ? PALETTE[cluster] : `hsl(${(cluster * 47) % 360} 60% 50%)`;
}

/**
 * @param {{ name: string, colour: string, points: [number, number][] }[]} series
 * @param {{ width?: number, height?: number, xLabel: string, yLabel: string, xTicks?: [number, string][], yMin?: number, yMax?: number }} options
 */
export function lineChart(series, options) {
  const W = options.width ?? 420, H = options.height ?? 240, L = 48, R = 90, T = 12, B = 36;
  const xs = series.flatMap((s) => s.points.map((p) => p[0]));
  const ys = series.flatMap((s) => s.points.map((p) => p[1]));
  const [x0, x1] = [Math.min(...xs), Math.max(...xs)];
  const y0 = options.yMin ?? Math.min(...ys), y1 = options.yMax ?? Math.max(...ys);
  const x = (/** @type {number} */ v) => L + (x1 === x0 ? 0.5 : (v - x0) / (x1 - x0)) * (W - L - R);
  const y = (/** @type {number} */ v) => T + (1 - (y1 === y0 ? 0.5 : (v - y0) / (y1 - y0))) * (H - T - B);
  const yTicks = Array.from({ length: 5 }, (_, i) => y0 + ((y1 - y0) * i) / 4);
  const xTicks = options.xTicks ?? [...new Set(xs)].map((v) => /** @type {[number, string]} */ ([v, String(v)]));
  return svg("svg", { width: W, height: H, role: "img", "aria-label": `${options.yLabel} against ${options.xLabel}` },
    yTicks.map((v) => [
      svg("line", { x1: L, x2: W - R, y1: y(v), y2: y(v), stroke: "#eee" }),
      svg("text", { x: L - 6, y: y(v) + 4, "text-anchor": "end" }, v.toFixed(y1 - y0 >= 10 ? 0 : 2)),
    ]),
    xTicks.map(([v, label]) => svg("text", { x: x(v), y: H - B + 16, "text-anchor": "middle" }, label)),
    svg("text", { x: (L + W - R) / 2, y: H - 4, "text-anchor": "middle" }, options.xLabel),
    svg("text", { x: 12, y: (T + H - B) / 2, "text-anchor": "middle", transform: `rotate(-90 12 ${(T + H - B) / 2})` }, options.yLabel),
    series.map((s, i) => [
      svg("polyline", { fill: "none", stroke: s.colour, "stroke-width": 2, points: s.points.map((p) => `${x(p[0])},${y(p[1])}`).join(" ") }),
      s.points.map((p) => svg("circle", { cx: x(p[0]), cy: y(p[1]), r: 3, fill: s.colour }, svg("title", null, `${s.name}: ${p[1].toFixed(4)}`))),
      svg("rect", { x: W - R + 10, y: T + i * 18, width: 12, height: 3, fill: s.colour }),
      svg("text", { x: W - R + 26, y: T + i * 18 + 5 }, s.name),
    ]));
}

/**
 * Loss of every task under every cluster, shaded per task (darkest = that task's best cluster,
 * since tasks' losses differ in scale); the task's own cluster is framed, its best cluster
 * dotted where they differ (there D2C moves the task). Tooltips give the values.
 * @param {string[]} tasks
 * @param {Record<string, (number | null)[]>} losses
 * @param {Record<string, number>} assignment
 */
export function heatmap(tasks, losses, assignment) {
  const k = Math.max(...tasks.map((t) => losses[t].length));
  const cell = 22, L = 80, T = 24;
  const rows = tasks.map((task, r) => {
    const row = losses[task];
    const values = row.filter((v) => v !== null).map(Number);
    const lo = Math.log(Math.min(...values)), hi = Math.log(Math.max(...values));
    const shade = (/** @type {number} */ v) => `hsl(220 70% ${Math.round(25 + 70 * (hi === lo ? 0 : (Math.log(v) - lo) / (hi - lo)))}%)`;
    const finite = row.map((v) => (v === null ? Infinity : v));
    const best = finite.indexOf(Math.min(...finite));
    return [svg("text", { x: L - 6, y: T + r * cell + 15, "text-anchor": "end" }, task), row.map((v, c) => {
      const x = L + c * cell, y = T + r * cell;
      if (v === null) return svg("rect", { x, y, width: cell - 1, height: cell - 1, fill: "#f3f4f6" });
      return [
        svg("rect", { class: "cell", x, y, width: cell - 1, height: cell - 1, fill: shade(v) }, svg("title", null, `${task} under cluster ${c}: ${v.toFixed(4)}`)),
        assignment[task] === c && svg("rect", { x: x + 1, y: y + 1, width: cell - 2, height: cell - 2, fill: "none", stroke: "#111", "stroke-width": 2 }),
        best === c && assignment[task] !== c && svg("circle", { cx: x + cell / 2, cy: y + cell / 2, r: 3, fill: "#fff" }),
      ];
    })];
  });
  const header = Array.from({ length: k }, (_, c) => svg("text", { x: L + c * cell + cell / 2, y: T - 8, "text-anchor": "middle", fill: clusterColour(c) }, c));
  return svg("svg", { class: "heatmap", width: L + k * cell + 10, height: T + tasks.length * cell + 10, role: "img", "aria-label": "loss heatmap" }, header, rows);
}

/**
 * Where each task went, laid out by application (rows) and language (columns) when the tasks
 * carry them; otherwise one row.
 * @param {{ id: string, application?: string, language?: string }[]} tasks
 * @param {Record<string, number>} assignment
 */
export function membershipGrid(tasks, assignment) {
  const apps = [...new Set(tasks.map((t) => t.application ?? "tasks"))].sort();
  const langs = [...new Set(tasks.map((t) => t.language ?? t.id))].sort();
  const cell = 34, L = 60, T = 22;
  const cells = tasks.filter((t) => t.id in assignment).map((t) => {
    const x = L + langs.indexOf(t.language ?? t.id) * cell, y = T + apps.indexOf(t.application ?? "tasks") * cell;
    const c = assignment[t.id];
    return [
      svg("rect", { x, y, width: cell - 3, height: cell - 3, rx: 4, fill: clusterColour(c) }, svg("title", null, `${t.id}: cluster ${c}`)),
      svg("text", { x: x + cell / 2 - 1, y: y + cell / 2 + 3, "text-anchor": "middle", fill: "#fff" }, c),
    ];
  });
  return svg("svg", { width: L + langs.length * cell + 10, height: T + apps.length * cell + 10, role: "img", "aria-label": "cluster membership" },
    langs.map((l, i) => svg("text", { x: L + i * cell + cell / 2, y: T - 6, "text-anchor": "middle" }, l)),
    apps.map((a, i) => svg("text", { x: L - 6, y: T + i * cell + cell / 2 + 3, "text-anchor": "end" }, a)),
    cells);
}
