/**
 * The console's views past the 40 seeded tasks and on data the server does not (yet) have, drawn in
 * Chromium from the served modules: the membership grid with several tasks per application and
 * language, up to bands per cluster; the runs list without the runs index's outcome fields.
 */
import type { Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { hasChromium, openConsole, type ConsoleSession } from "./session.ts";

let session: ConsoleSession;
let page: Page;

beforeAll(async () => {
  if (!hasChromium) return;
  session = await openConsole();
  page = session.page;
  await page.goto(`${session.worker.url}/`);
  await page.fill("#token", session.worker.token);
  await page.click("#token-form button");
  await page.waitForSelector("#tasks tbody tr");
});

afterAll(async () => {
  await session?.close();
});

const APPS = ["gec", "qa", "reply", "sum", "tone"];
const LANGS = ["de", "en", "es", "fr", "it", "ja", "ko", "zh"];

/**
 * `perCell` tasks of each application and language, `<app>-<lang>-<i>`, in cluster (a + l + i) % 7;
 * qa-it's first three in cluster 4 and the rest in 3 (the case: a cell of two clusters).
 */
function world(perCell: number) {
  const tasks: { id: string; application: string; language: string }[] = [];
  const assignment: Record<string, number> = {};
  APPS.forEach((application, a) =>
    LANGS.forEach((language, l) => {
      for (let i = 0; i < perCell; i++) {
        const id = `${application}-${language}-${String(i).padStart(4, "0")}`;
        tasks.push({ id, application, language });
        assignment[id] = application === "qa" && language === "it" ? (i < 3 ? 4 : 3) : (a + l + i) % 7;
      }
    }),
  );
  return { tasks, assignment };
}

/** The grid drawn into the page as #grid (a script string: the Node tests' types have no DOM). */
async function drawGrid(on: Page, perCell: number) {
  const { tasks, assignment } = world(perCell);
  await on.evaluate(`(async () => {
    const { membershipGrid } = await import("/membership.js");
    document.querySelector("#grid")?.remove();
    const [tasks, assignment] = ${JSON.stringify([tasks, assignment])};
    const grid = membershipGrid(tasks, assignment);
    grid.id = "grid";
    document.querySelector("#view").append(grid);
  })()`);
  return { tasks, assignment };
}

describe.skipIf(!hasChromium)("the console at scale", () => {
  it("draws every task of a crowded application x language cell in its own cluster, and lists a cell", async () => {
    const { tasks, assignment } = await drawGrid(page, 5);
    // Each task one square in its cluster's colour; none stacked on another (the old grid drew a cell's tasks on
    // one spot, so the last one drawn named the cell's cluster).
    const squares = (await page.$$eval("#grid rect[data-task]", (rects) =>
      rects.map((r) => ({
        task: r.getAttribute("data-task"),
        cluster: Number(r.getAttribute("data-cluster")),
        fill: r.getAttribute("fill"),
        at: `${r.getAttribute("x")},${r.getAttribute("y")}`,
        cell: r.closest("g.cell")?.getAttribute("data-cell"),
      })),
    )) as { task: string; cluster: number; fill: string; at: string; cell: string }[];
    expect(squares.map((s) => s.task).sort()).toEqual(tasks.map((t) => t.id).sort());
    for (const s of squares) expect(s.cluster, s.task).toBe(assignment[s.task]);
    expect(new Set(squares.map((s) => s.at)).size).toBe(squares.length);
    for (const t of tasks) expect(squares.find((s) => s.task === t.id)?.cell).toBe(`${t.application}/${t.language}`);
    const colours = (await page.evaluate(`(async () => {
      const { clusterColour } = await import("/charts.js");
      return [0, 1, 2, 3, 4, 5, 6].map(clusterColour);
    })()`)) as string[];
    for (const s of squares) expect(s.fill, s.task).toBe(colours[s.cluster]);
    const qaIt = squares.filter((s) => s.cell === "qa/it");
    expect(qaIt.map((s) => s.cluster).sort()).toEqual([3, 3, 4, 4, 4]);
    // The drill-down: the cell's tasks by cluster.
    await page.click('#grid g.cell[data-cell="qa/it"]');
    await page.waitForSelector('#grid .membership-cell [data-cell="qa/it"]');
    expect(await page.textContent("#grid .membership-cell h4")).toBe("qa x it: 5 tasks");
    const rows = await page.$$eval("#grid .membership-cell tr", (trs) =>
      trs.map((tr) => [...tr.querySelectorAll("td")].map((td) => td.textContent)),
    );
    expect(rows).toEqual([
      ["cluster 3", "2", "qa-it-0003 qa-it-0004"],
      ["cluster 4", "3", "qa-it-0000 qa-it-0001 qa-it-0002"],
    ]);
    await session.shot("membership-200");
  });

  it("draws a cell of more tasks than it has squares for as a band per cluster, sized by its count", async () => {
    const perCell = 300;
    const { assignment } = await drawGrid(page, perCell);
    expect(await page.locator("#grid rect[data-task]").count()).toBe(0);
    // Bounded by cells x clusters, not by 12,000 tasks.
    expect(await page.locator("#grid *").count()).toBeLessThan(40 * 8 * 2 + 200);
    const bands = (await page.$$eval('#grid g.cell[data-cell="qa/it"] rect[data-cluster]', (rects) =>
      rects.map((r) => [Number(r.getAttribute("data-cluster")), Number(r.getAttribute("data-count"))]),
    )) as [number, number][];
    expect(bands).toEqual([
      [3, perCell - 3],
      [4, 3],
    ]);
    // Every cell's bands count its tasks, each in the right cluster.
    const cells = (await page.$$eval("#grid g.cell", (gs) =>
      gs.map((g) => ({
        cell: g.getAttribute("data-cell"),
        bands: [...g.querySelectorAll("rect[data-cluster]")].map((r) => [
          Number(r.getAttribute("data-cluster")),
          Number(r.getAttribute("data-count")),
        ]),
      })),
    )) as { cell: string; bands: [number, number][] }[];
    expect(cells.length).toBe(40);
    for (const { cell, bands: counted } of cells) {
      const expected = new Map<number, number>();
      for (const [id, c] of Object.entries(assignment))
        if (id.startsWith(`${cell.replace("/", "-")}-`)) expected.set(c, (expected.get(c) ?? 0) + 1);
      expect(counted, cell).toEqual([...expected].sort(([a], [b]) => a - b));
    }
    await page.click('#grid g.cell[data-cell="qa/it"]');
    await page.waitForSelector('#grid .membership-cell [data-cell="qa/it"]');
    expect(await page.textContent("#grid .membership-cell h4")).toBe(`qa x it: ${perCell} tasks`);
    const four = await page.$$eval('#grid .membership-cell tr[data-cluster="4"] td', (tds) =>
      tds.map((td) => td.textContent),
    );
    expect(four).toEqual(["cluster 4", "3", "qa-it-0000 qa-it-0001 qa-it-0002"]);
  });

  it('shows "—" for each figure a runs index row lacks, and no cancel without a running state', async () => {
    // A row as an index from before outcomes answers it: no state, J, held-out, duration or cost.
    const runId = "run-00000000-0000-4000-8000-000000000000";
    const old = { runId, createdAt: "2026-11-30T10:00:00.000Z", method: "kmeans", k: 3, tasks: 40 };
    await page.route("**/v1/runs", (route) => route.fulfill({ json: { runs: [old] } }));
    try {
      await page.goto(`${session.worker.url}/#runs`);
      await page.waitForSelector(`#runs tr[data-run="${runId}"]`);
      const cells = await page.$$eval(`#runs tr[data-run="${runId}"] td`, (tds) => tds.map((td) => td.textContent));
      expect(cells).toEqual([
        runId.slice(4, 12),
        await page.evaluate(`new Date(${JSON.stringify(old.createdAt)}).toLocaleString()`),
        "—",
        "kmeans",
        "3",
        "40",
        "—",
        "—",
        "—",
        "—",
        "—",
        "",
      ]);
    } finally {
      await page.unroute("**/v1/runs");
    }
    expect(session.errors).toEqual([]);
    expect(session.cspViolations).toEqual([]);
  });
});
