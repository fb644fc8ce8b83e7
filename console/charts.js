// @ts-check
/**
 * Small charts drawn by hand: a line chart as SVG elements, the loss heatmap on a canvas (the membership grid is
 * membership.js). No library needed.
 */
import { h, svg } from "./dom.js";

const PALETTE = [
  "#2563eb",
  "#dc2626",
  "#16a34a",
  "#d97706",
  "#7c3aed",
  "#0891b2",
  "#db2777",
  "#65a30d",
  "#9333ea",
  "#ea580c",
];

/** @param {number} cluster */
export function clusterColour(cluster) {
  return cluster < PALETTE.length ? PALETTE[cluster] : `hsl(${(cluster * 47) % 360} 60% 50%)`;
}

/**
 * @param {{ name: string, colour: string, points: [number, number][] }[]} series
 * @param {{ width?: number, height?: number, xLabel: string, yLabel: string, xTicks?: [number, string][], yMin?:
 * number, yMax?: number }} options
 */
export function lineChart(series, options) {
  const W = options.width ?? 420,
    H = options.height ?? 240,
    L = 48,
    R = 90,
    T = 12,
    B = 36;
  const xs = series.flatMap((s) => s.points.map((p) => p[0]));
  const ys = series.flatMap((s) => s.points.map((p) => p[1]));
  const [x0, x1] = [Math.min(...xs), Math.max(...xs)];
  const y0 = options.yMin ?? Math.min(...ys),
    y1 = options.yMax ?? Math.max(...ys);
  const x = (/** @type {number} */ v) => L + (x1 === x0 ? 0.5 : (v - x0) / (x1 - x0)) * (W - L - R);
  const y = (/** @type {number} */ v) => T + (1 - (y1 === y0 ? 0.5 : (v - y0) / (y1 - y0))) * (H - T - B);
  const yTicks = Array.from({ length: 5 }, (_, i) => y0 + ((y1 - y0) * i) / 4);
  const xTicks = options.xTicks ?? [...new Set(xs)].map((v) => /** @type {[number, string]} */ ([v, String(v)]));
  return svg(
    "svg",
    { width: W, height: H, role: "img", "aria-label": `${options.yLabel} against ${options.xLabel}` },
    yTicks.map((v) => [
      svg("line", { x1: L, x2: W - R, y1: y(v), y2: y(v), stroke: "#eee" }),
      svg("text", { x: L - 6, y: y(v) + 4, "text-anchor": "end" }, v.toFixed(y1 - y0 >= 10 ? 0 : 2)),
    ]),
    xTicks.map(([v, label]) => svg("text", { x: x(v), y: H - B + 16, "text-anchor": "middle" }, label)),
    svg("text", { x: (L + W - R) / 2, y: H - 4, "text-anchor": "middle" }, options.xLabel),
    svg(
      "text",
      { x: 12, y: (T + H - B) / 2, "text-anchor": "middle", transform: `rotate(-90 12 ${(T + H - B) / 2})` },
      options.yLabel,
    ),
    series.map((s, i) => [
      svg("polyline", {
        fill: "none",
        stroke: s.colour,
        "stroke-width": 2,
        points: s.points.map((p) => `${x(p[0])},${y(p[1])}`).join(" "),
      }),
      s.points.map((p) =>
        svg(
          "circle",
          { cx: x(p[0]), cy: y(p[1]), r: 3, fill: s.colour },
          svg("title", null, `${s.name}: ${p[1].toFixed(4)}`),
        ),
      ),
      svg("rect", { x: W - R + 10, y: T + i * 18, width: 12, height: 3, fill: s.colour }),
      svg("text", { x: W - R + 26, y: T + i * 18 + 5 }, s.name),
    ]),
  );
}

/**
 * Loss of every task under every cluster, shaded per task (darkest = that task's best cluster,
 * since tasks' losses differ in scale); the task's own cluster is framed, its best cluster
 * dotted where they differ (there D2C moves the task). Hovering a cell names its value.
 * Drawn on one canvas, not as SVG elements: at N = 1,000 and K = 20 those were 40,000+ nodes.
 * Up to LABELLED_ROWS tasks keep 22 px rows and their names; more get short unlabelled rows in a
 * scrolling box (style.css: .heatmap.compact).
 * @param {string[]} tasks
 * @param {Record<string, (number | null)[]>} losses
 * @param {Record<string, number>} assignment
 */
export function heatmap(tasks, losses, assignment) {
  const k = Math.max(0, ...tasks.map((t) => losses[t].length));
  const labelled = tasks.length <= LABELLED_ROWS;
  const canvas = h("canvas", { role: "img", "aria-label": "loss heatmap" });
  const ctx = /** @type {CanvasRenderingContext2D} */ (canvas.getContext("2d"));
  ctx.font = FONT;
  const cellWidth = 22,
    top = 24;
  const rowHeight = labelled ? 22 : Math.max(2, Math.min(8, Math.floor(4000 / tasks.length)));
  const left = labelled ? Math.min(240, Math.ceil(Math.max(0, ...tasks.map((t) => ctx.measureText(t).width))) + 12) : 8;
  const width = left + k * cellWidth + 10,
    height = top + tasks.length * rowHeight + 10;
  // Backing store in device pixels, drawn in CSS pixels: sharp on high-density screens.
  const dpr = globalThis.devicePixelRatio || 1;
  canvas.width = Math.round(width * dpr);
  canvas.height = Math.round(height * dpr);
  Object.assign(canvas.style, { width: `${width}px`, height: `${height}px` });
  ctx.scale(dpr, dpr);
  ctx.font = FONT;
  ctx.textBaseline = "alphabetic";
  ctx.textAlign = "center";
  for (let c = 0; c < k; c++) {
    ctx.fillStyle = clusterColour(c);
    ctx.fillText(String(c), left + c * cellWidth + cellWidth / 2, top - 8);
  }
  // White lines between columns always, between rows only where they are tall enough to spare one.
  const colGap = 1,
    rowGap = rowHeight >= 8 ? 1 : 0;
  // Cells are gathered by colour, one fill per colour rather than a fillStyle per cell (at most
  // 72 colours); frames and dots go on top once the cells are down.
  /** @type {Map<string, Path2D>} */
  const fills = new Map();
  const frames = new Path2D(),
    dots = new Path2D();
  const frameLine = rowHeight >= 8 ? 2 : 1; // a 2 px frame would fill a short row
  const dotRadius = Math.min(3, rowHeight / 2);
  tasks.forEach((task, r) => {
    const row = losses[task],
      y = top + r * rowHeight,
      own = assignment[task];
    let lo = Infinity,
      hi = -Infinity,
      best = -1;
    row.forEach((v, c) => {
      if (v === null) return;
      if (v < lo) [lo, best] = [v, c];
      if (v > hi) hi = v;
    });
    const [logLo, logHi] = [Math.log(lo), Math.log(hi)];
    if (labelled) {
      ctx.fillStyle = INK;
      ctx.textAlign = "end";
      ctx.fillText(task, left - 6, y + 15);
    }
    row.forEach((v, c) => {
      const x = left + c * cellWidth;
      const fill =
        v === null
          ? "#f3f4f6"
          : `hsl(220 70% ${Math.round(25 + 70 * (logHi === logLo ? 0 : (Math.log(v) - logLo) / (logHi - logLo)))}%)`;
      let path = fills.get(fill);
      if (!path) fills.set(fill, (path = new Path2D()));
      path.rect(x, y, cellWidth - colGap, rowHeight - rowGap);
      if (v === null) return;
      if (own === c) {
        frames.rect(
          x + frameLine / 2,
          y + frameLine / 2,
          cellWidth - colGap - frameLine,
          rowHeight - rowGap - frameLine,
        );
      } else if (best === c) {
        dots.moveTo(x + cellWidth / 2 + dotRadius, y + rowHeight / 2);
        dots.arc(x + cellWidth / 2, y + rowHeight / 2, dotRadius, 0, 2 * Math.PI);
      }
    });
  });
  for (const [fill, path] of fills) {
    ctx.fillStyle = fill;
    ctx.fill(path);
  }
  Object.assign(ctx, { strokeStyle: "#111", lineWidth: frameLine, fillStyle: "#fff" });
  ctx.stroke(frames);
  ctx.fill(dots);

  const tooltip = h("div", { class: "tooltip", hidden: true });
  const wrapper = h(
    "div",
    {
      class: labelled ? "heatmap" : "heatmap compact",
      "data-rows": tasks.length,
      "data-clusters": k,
      // The cell geometry in CSS pixels, for whoever maps a cell to a point (the browser test).
      "data-left": left,
      "data-top": top,
      "data-cell-width": cellWidth,
      "data-row-height": rowHeight,
    },
    h("div", { class: "scroll" }, canvas),
    tooltip,
  );

  // The pointer is read on every move but the tooltip redone at most once a frame.
  /** @type {{ x: number, y: number } | null} */
  let pointer = null;
  // biome-ignore lint/correctness/noUnusedVariables: read by `frame ||=` in follow(), which the rule misses.
  let frame = 0;
  const showTooltip = () => {
    frame = 0;
    const at = canvas.getBoundingClientRect(),
      box = wrapper.getBoundingClientRect();
    const c = pointer ? Math.floor((pointer.x - at.left - left) / cellWidth) : -1;
    const r = pointer ? Math.floor((pointer.y - at.top - top) / rowHeight) : -1;
    const task = tasks[r],
      v = task === undefined || c < 0 ? null : (losses[task][c] ?? null);
    tooltip.hidden = !pointer || v === null; // a cell not evaluated has no value to name, as it had no title
    if (!pointer || v === null) return;
    // textContent: one text node, never markup (see dom.js).
    tooltip.textContent = `${task} under cluster ${c}: ${v.toFixed(4)}`;
    Object.assign(tooltip.style, { left: `${pointer.x - box.left + 12}px`, top: `${pointer.y - box.top + 12}px` });
  };
  const follow = (/** @type {{ x: number, y: number } | null} */ at) => {
    pointer = at;
    frame ||= requestAnimationFrame(showTooltip);
  };
  canvas.addEventListener("mousemove", (e) => follow({ x: e.clientX, y: e.clientY }));
  canvas.addEventListener("mouseleave", () => follow(null));
  return wrapper;
}

/** Rows up to which the heatmap keeps full-size cells and task names. */
const LABELLED_ROWS = 60;
const FONT = "11px system-ui, sans-serif";
const INK = "#1d2330"; // style.css --ink
