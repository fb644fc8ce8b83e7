// @ts-check
/**
 * Where each task went, laid out by application (rows) and language (columns). A cell holds every
 * task of its application and language, one square per task in its cluster's colour (a world of
 * more than 40 tasks has several per cell); above SQUARES_PER_CELL tasks a cell shows a band per
 * cluster sized by its count instead, so the element count stays bounded by cells x K. Clicking a
 * cell lists its tasks by cluster underneath.
 */
import { clusterColour } from "./charts.js";
import { h, svg } from "./dom.js";

/** Tasks a cell draws one square each for; a larger cell draws a band per cluster. */
const SQUARES_PER_CELL = 100;
/** Side of a cell holding one task, and the smallest square a task gets in a crowded cell. */
const SINGLE = 34;
const SMALLEST_SQUARE = 5;
/** Squares this large carry their cluster's number. */
const NUMBERED = 14;
const GAP = 3;
/** The row or column of a task that states no application or language. */
const UNSTATED = "—";

/**
 * @typedef {{ id: string, application?: string, language?: string }} GridTask
 * @typedef {{ app: string, lang: string, members: GridTask[] }} GridCell
 * @typedef {{ picked?: string, onPick?: (cell: string) => void }} GridOptions `picked`: the cell
 * listed underneath, kept across redraws by the caller through `onPick`
 */

/**
 * @param {GridTask[]} tasks
 * @param {Record<string, number>} assignment cluster by task id; tasks absent from it are left out
 * @param {GridOptions} [options]
 */
export function membershipGrid(tasks, assignment, options = {}) {
  const cells = cellsOf(tasks, assignment);
  const apps = [...new Set([...cells.values()].map((c) => c.app))].sort();
  const langs = [...new Set([...cells.values()].map((c) => c.lang))].sort();
  const crowd = Math.max(1, ...[...cells.values()].map((c) => Math.min(c.members.length, SQUARES_PER_CELL)));
  const perRow = Math.ceil(Math.sqrt(crowd));
  const cell = Math.max(SINGLE, perRow * SMALLEST_SQUARE + GAP);
  const L = 60,
    T = 22;
  const details = h("div", { class: "membership-cell" });
  const show = (/** @type {string} */ key) => {
    options.onPick?.(key);
    const picked = cells.get(key);
    if (picked) details.replaceChildren(cellList(picked, assignment));
  };
  const drawn = [...cells].map(([key, { app, lang, members }]) => {
    const x = L + langs.indexOf(lang) * cell,
      y = T + apps.indexOf(app) * cell;
    const inside =
      members.length > SQUARES_PER_CELL
        ? bands(members, assignment, x, y, cell - GAP)
        : squares(members, assignment, x, y, cell - GAP, perRow);
    return svg(
      "g",
      {
        class: "cell",
        "data-cell": `${app}/${lang}`,
        "data-tasks": members.length,
        tabindex: 0,
        role: "button",
        "aria-label": `${app} x ${lang}: ${members.length} ${members.length === 1 ? "task" : "tasks"}`,
        onclick: () => show(key),
        onkeydown: (/** @type {Event} */ e) => {
          if (/** @type {KeyboardEvent} */ (e).key === "Enter") show(key);
        },
      },
      // The whole cell takes the click, not only its squares.
      svg("rect", { class: "cell-area", x, y, width: cell - GAP, height: cell - GAP, rx: 4, fill: "#f3f4f6" }),
      inside,
    );
  });
  const grid = svg(
    "svg",
    {
      width: L + langs.length * cell + 10,
      height: T + apps.length * cell + 10,
      role: "img",
      "aria-label": "cluster membership",
    },
    langs.map((l, i) => svg("text", { x: L + i * cell + cell / 2, y: T - 6, "text-anchor": "middle" }, l)),
    apps.map((a, i) => svg("text", { x: L - 6, y: T + i * cell + cell / 2 + 3, "text-anchor": "end" }, a)),
    drawn,
  );
  if (options.picked && cells.has(options.picked)) show(options.picked);
  return h("div", { class: "membership" }, grid, details);
}

/**
 * The tasks of each application and language, by id; keyed by both as JSON (the names are free text).
 * @param {GridTask[]} tasks @param {Record<string, number>} assignment
 * @returns {Map<string, GridCell>}
 */
function cellsOf(tasks, assignment) {
  /** @type {Map<string, GridCell>} */
  const cells = new Map();
  for (const t of tasks) {
    if (!(t.id in assignment)) continue;
    const [app, lang] = [t.application ?? UNSTATED, t.language ?? UNSTATED];
    const key = JSON.stringify([app, lang]);
    const cell = cells.get(key);
    if (cell) cell.members.push(t);
    else cells.set(key, { app, lang, members: [t] });
  }
  for (const { members } of cells.values()) members.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  return cells;
}

/**
 * One square per task, in rows of `perRow`, numbered where there is room.
 * @param {GridTask[]} members @param {Record<string, number>} assignment
 * @param {number} x @param {number} y @param {number} side @param {number} perRow
 */
function squares(members, assignment, x, y, side, perRow) {
  const across = members.length === 1 ? 1 : perRow;
  const step = side / across;
  const size = members.length === 1 ? side : Math.max(1, step - 1);
  return members.map((t, i) => {
    const c = assignment[t.id];
    const [sx, sy] = [x + (i % across) * step, y + Math.floor(i / across) * step];
    return [
      svg(
        "rect",
        {
          x: sx,
          y: sy,
          width: size,
          height: size,
          rx: size >= NUMBERED ? 4 : 1,
          fill: clusterColour(c),
          "data-task": t.id,
          "data-cluster": c,
        },
        svg("title", null, `${t.id}: cluster ${c}`),
      ),
      size >= NUMBERED
        ? svg("text", { x: sx + size / 2, y: sy + size / 2 + 4, "text-anchor": "middle", fill: "#fff" }, c)
        : null,
    ];
  });
}

/**
 * A band per cluster, stacked top to bottom in cluster order, its height the cluster's share of the cell.
 * @param {GridTask[]} members @param {Record<string, number>} assignment
 * @param {number} x @param {number} y @param {number} side
 */
function bands(members, assignment, x, y, side) {
  const counts = byCluster(members, assignment);
  let top = 0;
  return [...counts].map(([c, ids]) => {
    const height = (side * ids.length) / members.length;
    const band = svg(
      "rect",
      { x, y: y + top, width: side, height, fill: clusterColour(c), "data-cluster": c, "data-count": ids.length },
      svg("title", null, `cluster ${c}: ${ids.length} tasks`),
    );
    top += height;
    return band;
  });
}

/**
 * The cell's task ids by cluster, clusters in ascending order.
 * @param {GridTask[]} members @param {Record<string, number>} assignment
 * @returns {Map<number, string[]>}
 */
function byCluster(members, assignment) {
  /** @type {Map<number, string[]>} */
  const clusters = new Map();
  for (const t of members) {
    const c = assignment[t.id];
    const ids = clusters.get(c);
    if (ids) ids.push(t.id);
    else clusters.set(c, [t.id]);
  }
  return new Map([...clusters].sort(([a], [b]) => a - b));
}

/**
 * The drill-down: a picked cell's tasks, one row per cluster.
 * @param {GridCell} cell @param {Record<string, number>} assignment
 */
function cellList({ app, lang, members }, assignment) {
  return h(
    "div",
    { "data-cell": `${app}/${lang}` },
    h("h4", null, `${app} x ${lang}: ${members.length} ${members.length === 1 ? "task" : "tasks"}`),
    h(
      "table",
      null,
      [...byCluster(members, assignment)].map(([c, ids]) =>
        h(
          "tr",
          { "data-cluster": c },
          h("td", { style: { color: clusterColour(c) } }, `cluster ${c}`),
          h("td", null, ids.length),
          h("td", null, ids.join(" ")),
        ),
      ),
    ),
  );
}
